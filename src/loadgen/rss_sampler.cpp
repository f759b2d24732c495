#include "loadgen/rss_sampler.h"

#include <algorithm>
#include <chrono>

#include "report/peak_memory.h"

namespace packinfer::loadgen {
RssSampler::RssSampler(pid_t pid, double interval_s)
    : pid_(pid), interval_s_(interval_s), t0_(Clock::now()) {
  sample();
  thread_ = std::thread([this] {
    // Short sleeps so finish() does not wait a whole interval.
    auto next = Clock::now();
    while (!stop_) {
      next +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_s_));
      while (!stop_ && Clock::now() < next)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (!stop_) sample();
    }
  });
}

RssSampler::~RssSampler() { finish(); }

size_t RssSampler::sample_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return summary_.samples.size();
}

void RssSampler::sample() {
  double mib = report::rss_mib_of(static_cast<int>(pid_));
  double t = std::chrono::duration<double>(Clock::now() - t0_).count();
  std::lock_guard lock(mu_);
  summary_.samples.push_back({t, mib});
  if (summary_.samples.size() == 1) summary_.start_mib = mib;
  summary_.peak_mib = std::max(summary_.peak_mib, mib);
  summary_.end_mib = mib;
}

RssSummary RssSampler::finish() {
  if (!finished_) {
    finished_ = true;
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    sample();
  }
  std::lock_guard lock(mu_);
  return summary_;
}

}  // namespace packinfer::loadgen
