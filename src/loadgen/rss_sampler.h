#pragma once
// Samples another process's resident set size once a second from a background thread, for the
// start / peak / end RSS of a server under load (a leak shows as a rising end value).
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace packinfer::loadgen {

struct RssSample {
  double t_s = 0;  // since the sampler started
  double mib = 0;
};

struct RssSummary {
  double start_mib = 0, peak_mib = 0, end_mib = 0;
  std::vector<RssSample> samples;
};

class RssSampler {
 public:
  RssSampler(pid_t pid, double interval_s = 1.0);
  ~RssSampler();
  // Stops sampling (taking a last sample) and returns what was seen. Idempotent.
  RssSummary finish();
  // Samples taken so far (safe while sampling runs).
  size_t sample_count();

 private:
  void sample();
  using Clock = std::chrono::steady_clock;
  pid_t pid_;
  double interval_s_;
  Clock::time_point t0_;
  std::mutex mu_;
  RssSummary summary_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  bool finished_ = false;
};

}  // namespace packinfer::loadgen
