#include "server/metrics.h"

#include <algorithm>
#include <charconv>

namespace packinfer::api {
namespace {

// Shortest form that reads back as the same double ("0.005", not "0.0050000000000000001").
std::string num(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void scalar(std::string& out, const std::string& name, const char* type, const std::string& help,
            double v) {
  header(out, name, type, help);
  out += name + " " + num(v) + "\n";
}

// A counter with a read and a write series (the KV tiers' traffic). std::to_string keeps the
// format these series always had (integers as such, seconds with six decimals).
template <typename T>
void by_direction(std::string& out, const std::string& name, const std::string& help, T read,
                  T write) {
  header(out, name, "counter", help);
  out += name + "{direction=\"read\"} " + std::to_string(read) + "\n";
  out += name + "{direction=\"write\"} " + std::to_string(write) + "\n";
}

// How far back the tokens/s gauges look.
constexpr double kWindowSeconds = 60;

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i]++;
  sum_ += v;
  count_++;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + num(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

// Buckets follow vLLM's, so dashboards built for it read ours the same way.
ServerMetrics::ServerMetrics()
    : ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
             10.0, 20.0, 40.0, 80.0}),
      tpot_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
             1.0, 2.5}),
      e2e_({0.01, 0.05, 0.1, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
            120.0}),
      queue_({0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0}) {}

void ServerMetrics::on_request_done(const ServingResult& r) {
  std::lock_guard lock(mu_);
  const std::string reason = !r.error.empty() ? "error" : r.generation.finish_reason;
  finished_[reason]++;
  if (!r.error.empty() || r.generation.finish_reason == "cancelled") return;
  const size_t n_out = r.generation.output_ids.size();
  if (n_out > 0) ttft_.observe(r.ttft_seconds);
  // Time per output token after the first: the decode speed a streaming client sees.
  if (n_out > 1) tpot_.observe((r.e2e_seconds - r.ttft_seconds) / static_cast<double>(n_out - 1));
  e2e_.observe(r.e2e_seconds);
  queue_.observe(r.queued_seconds);
}

void ServerMetrics::on_http_response(int status) {
  std::lock_guard lock(mu_);
  http_[status]++;
}

std::string ServerMetrics::render(const ServingStats& s, double now) {
  std::lock_guard lock(mu_);
  // Throughput: against the oldest sample of the last minute (or the last one before it).
  samples_.push_back({now, s.computed_prompt_tokens, s.generated_tokens});
  while (samples_.size() > 2 && samples_[1].t <= now - kWindowSeconds) samples_.pop_front();
  const Sample& base = samples_.front();
  const double dt = now - base.t;
  const double prompt_rate = dt > 0 ? (s.computed_prompt_tokens - base.prompt_tokens) / dt : 0;
  const double gen_rate = dt > 0 ? (s.generated_tokens - base.generated_tokens) / dt : 0;

  std::string out;
  ttft_.render(out, "packinfer_time_to_first_token_seconds",
               "Time from request arrival to its first generated token.");
  tpot_.render(out, "packinfer_time_per_output_token_seconds",
               "Mean time per generated token after the first, per request.");
  e2e_.render(out, "packinfer_e2e_request_latency_seconds",
              "Time from request arrival to its last token.");
  queue_.render(out, "packinfer_request_queue_time_seconds",
                "Time from request arrival until it was first scheduled.");
  scalar(out, "packinfer_requests_queued", "gauge", "Requests waiting to be scheduled.", s.queued);
  scalar(out, "packinfer_requests_running", "gauge", "Requests being prefilled or decoded.",
         s.running);
  header(out, "packinfer_kv_blocks", "gauge",
         "KV cache blocks by state (used: held by requests; cached: reusable prefixes, "
         "evictable; free).");
  out += "packinfer_kv_blocks{state=\"used\"} " + std::to_string(s.kv_blocks_used) + "\n";
  out += "packinfer_kv_blocks{state=\"cached\"} " + std::to_string(s.kv_blocks_cached) + "\n";
  out += "packinfer_kv_blocks{state=\"free\"} " + std::to_string(s.kv_blocks_free) + "\n";
  scalar(out, "packinfer_kv_blocks_total", "gauge", "KV cache blocks in the budget.",
         s.kv_blocks_total);
  scalar(out, "packinfer_kv_block_size", "gauge", "Positions per KV block.", s.kv_block_size);
  scalar(out, "packinfer_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.",
         s.prompt_tokens);
  scalar(out, "packinfer_cached_prompt_tokens_total", "counter",
         "Prompt tokens served from the prefix cache.", s.cached_prompt_tokens);
  scalar(out, "packinfer_computed_prompt_tokens_total", "counter",
         "Prompt tokens computed (including recomputation after preemption).",
         s.computed_prompt_tokens);
  scalar(out, "packinfer_prefix_cache_hit_rate", "gauge",
         "Share of prompt tokens served from the prefix cache since start.",
         s.prompt_tokens > 0 ? static_cast<double>(s.cached_prompt_tokens) / s.prompt_tokens : 0);
  scalar(out, "packinfer_generation_tokens_total", "counter", "Generated tokens.",
         s.generated_tokens);
  scalar(out, "packinfer_preemptions_total", "counter",
         "Requests preempted (KV freed, recomputed later) for lack of KV blocks.", s.preemptions);
  scalar(out, "packinfer_steps_total", "counter", "Scheduler steps (forward passes).", s.steps);
  scalar(out, "packinfer_busy_seconds_total", "counter", "Time spent in forward passes.",
         s.busy_seconds);
  scalar(out, "packinfer_prompt_tokens_per_second", "gauge",
         "Prompt tokens computed per second over the last minute.", prompt_rate);
  scalar(out, "packinfer_generation_tokens_per_second", "gauge",
         "Tokens generated per second over the last minute.", gen_rate);
  if (s.kv_disk) {
    by_direction(out, "packinfer_kv_disk_blocks_total",
                 "KV blocks moved between the prefix cache and its disk tier, by direction.",
                 s.kv_disk_blocks_read, s.kv_disk_blocks_written);
    by_direction(out, "packinfer_kv_disk_bytes_total", "Bytes moved, by direction.",
                 s.kv_disk_bytes_read, s.kv_disk_bytes_written);
    by_direction(out, "packinfer_kv_disk_seconds_total", "Time spent, by direction.",
                 s.kv_disk_read_seconds, s.kv_disk_write_seconds);
    scalar(out, "packinfer_kv_disk_misses_total", "counter",
           "Prefix blocks looked for on disk and not found.", s.kv_disk_misses);
    scalar(out, "packinfer_kv_disk_dropped_writes_total", "counter",
           "Blocks not written (write queue full or I/O error).", s.kv_disk_dropped_writes);
    scalar(out, "packinfer_kv_disk_corrupt_total", "counter",
           "Damaged, truncated or foreign block files detected (never used).", s.kv_disk_corrupt);
    scalar(out, "packinfer_kv_disk_files", "gauge", "Block files in the disk tier.",
           s.kv_disk_files);
    scalar(out, "packinfer_kv_disk_bytes", "gauge", "Bytes of the disk tier's files.",
           s.kv_disk_bytes);
  }
  if (s.kv_store) {
    scalar(out, "packinfer_kv_store_up", "gauge",
           "1 when the shared KV store (Redis) answers, 0 while it is down (serving goes on).",
           s.kv_store_up ? 1 : 0);
    by_direction(out, "packinfer_kv_store_blocks_total",
                 "KV blocks moved between the prefix cache and the shared store, by direction.",
                 s.kv_store_blocks_read, s.kv_store_blocks_written);
    by_direction(out, "packinfer_kv_store_bytes_total", "Bytes moved, by direction.",
                 s.kv_store_bytes_read, s.kv_store_bytes_written);
    by_direction(out, "packinfer_kv_store_seconds_total",
                 "Time spent, by direction (reads: whole lookups; writes: the background writer).",
                 s.kv_store_read_seconds, s.kv_store_write_seconds);
    header(out, "packinfer_kv_store_lookups_total", "counter",
           "Prefix lookups in the shared store, by result (hit: at least one block loaded).");
    out += "packinfer_kv_store_lookups_total{result=\"hit\"} " +
           std::to_string(s.kv_store_hit_lookups) + "\n";
    out += "packinfer_kv_store_lookups_total{result=\"miss\"} " +
           std::to_string(s.kv_store_misses) + "\n";
    out += "packinfer_kv_store_lookups_total{result=\"skipped\"} " +
           std::to_string(s.kv_store_skipped) + "\n";
    scalar(out, "packinfer_kv_store_timeouts_total", "counter",
           "Lookups cut short by their time limit.", s.kv_store_timeouts);
    scalar(out, "packinfer_kv_store_claims_total", "counter",
           "Prompt blocks marked as being computed here (other servers wait for them).",
           s.kv_store_claims);
    scalar(out, "packinfer_kv_store_claims_busy_total", "counter",
           "Claims that found another server computing the blocks.", s.kv_store_claims_busy);
    scalar(out, "packinfer_kv_store_waits_total", "counter",
           "Requests that waited for prompt blocks another server was computing.",
           s.kv_store_waits);
    scalar(out, "packinfer_kv_store_wait_timeouts_total", "counter",
           "Of those, waits that gave up and computed the blocks here.", s.kv_store_wait_timeouts);
    scalar(out, "packinfer_kv_store_dropped_writes_total", "counter",
           "Blocks not published (queue full, store down or a failed SET).",
           s.kv_store_dropped_writes);
    scalar(out, "packinfer_kv_store_rejected_total", "counter",
           "Corrupted, foreign, truncated or oversize values found (never used).",
           s.kv_store_rejected);
    scalar(out, "packinfer_kv_store_disconnects_total", "counter",
           "Connections to the store lost or refused.", s.kv_store_disconnects);
  }
  header(out, "packinfer_requests_finished_total", "counter",
         "Finished requests by finish reason (stop, length, cancelled, error).");
  for (const char* r : {"stop", "length", "cancelled", "error"}) finished_.try_emplace(r, 0);
  for (const auto& [reason, n] : finished_)
    out += "packinfer_requests_finished_total{finish_reason=\"" + reason + "\"} " +
           std::to_string(n) + "\n";
  header(out, "packinfer_http_responses_total", "counter", "HTTP responses by status code.");
  for (const auto& [status, n] : http_)
    out += "packinfer_http_responses_total{code=\"" + std::to_string(status) + "\"} " +
           std::to_string(n) + "\n";
  return out;
}

}  // namespace packinfer::api
