#include "batch_jobs/batch_progress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace packinfer::batch_jobs {
namespace {

std::string clock_time(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

double rate(int64_t n, double seconds) { return seconds > 0 ? n / seconds : 0.0; }

}  // namespace

std::string format_progress(const BatchProgress& p) {
  // Requests finish at uneven rates, but over a whole job the average is the honest estimate.
  std::string eta = p.done > 0 ? clock_time(p.elapsed_seconds * (p.total - p.done) / p.done) : "?";
  return fmt::format("{}/{} | prompt {:.0f} tok/s | gen {:.1f} tok/s | elapsed {} | ETA {}", p.done,
                     p.total, rate(p.prompt_tokens, p.elapsed_seconds),
                     rate(p.generated_tokens, p.elapsed_seconds), clock_time(p.elapsed_seconds),
                     eta);
}

ProgressReporter::ProgressReporter(std::FILE* out, bool live) : out_(out), live_(live) {
  // Plain lines wait a full interval from the start: short jobs print only the final line.
  if (!live_) last_ = std::chrono::steady_clock::now();
}

void ProgressReporter::update(const BatchProgress& p) {
  auto now = std::chrono::steady_clock::now();
  auto interval = live_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (now - last_ < interval) return;
  last_ = now;
  print(p);
}

void ProgressReporter::finish(const BatchProgress& p) {
  print(p);
  if (live_) std::fputc('\n', out_);
  std::fflush(out_);
}

void ProgressReporter::print(const BatchProgress& p) {
  const std::string text = format_progress(p);
  if (live_) {
    const int width = 24;
    const int filled = p.total > 0 ? static_cast<int>(width * p.done / p.total) : width;
    std::fprintf(out_, "\r[%s%s] %s\x1b[K", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), text.c_str());
  } else {
    std::fprintf(out_, "batch: %s\n", text.c_str());
  }
  std::fflush(out_);
}

std::string format_summary(const JobSummary& job, const BatchStats& s) {
  std::string out = fmt::format(
      "batch: {} requests: {} ok, {} failed, {} skipped (already in the output)\n"
      "batch: tokens: {} prompt, {} generated; elapsed {:.2f} s\n",
      job.ok + job.failed + job.skipped, job.ok, job.failed, job.skipped, job.prompt_tokens,
      job.generated_tokens, job.elapsed_seconds);
  out += fmt::format(
      "batch: makespan {:.3f} s, batch TTFT {:.3f} s, prefill {:.3f} s in {} forwards, "
      "packing efficiency {:.1f} %, padding {} tokens\n",
      s.makespan_seconds, s.all_first_tokens_seconds, s.prefill_seconds, s.n_forwards,
      100.0 * s.packing_efficiency, s.padding_tokens);
  if (s.peak_activation_bytes > 0 || s.peak_kv_bytes > 0) {
    out += fmt::format("batch: peak activations {:.1f} MiB, peak KV {:.1f} MiB\n",
                       s.peak_activation_bytes / 1048576.0, s.peak_kv_bytes / 1048576.0);
  }
  if (s.estimated_makespan_seconds > 0 || s.lower_bound_seconds > 0) {
    out += fmt::format("batch: planner estimated makespan {:.3f} s vs lower bound {:.3f} s\n",
                       s.estimated_makespan_seconds, s.lower_bound_seconds);
  }
  return out;
}

}  // namespace packinfer::batch_jobs
