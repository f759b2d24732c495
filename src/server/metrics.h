#pragma once
// Prometheus text exposition (format 0.0.4) of the server: latency histograms recorded per
// request, the ServingEngine's gauges and counters, and throughput over the last minute.
// Thread-safe: requests finish on the engine thread while /metrics renders on an HTTP thread.
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "packinfer/serving.h"

namespace packinfer::api {

// Cumulative buckets as Prometheus wants them: bucket i counts observations <= bounds[i].
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Appends the _bucket/_sum/_count lines (with HELP and TYPE) of metric `name`.
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); last one is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServerMetrics {
 public:
  ServerMetrics();
  // A request reached on_done: latencies and its finish reason ("error" when it failed).
  void on_request_done(const ServingResult& result);
  // An HTTP response was sent (counted by status code).
  void on_http_response(int status);
  // The whole exposition; `now_seconds` is any monotonic clock (for the tokens/s window).
  std::string render(const ServingStats& stats, double now_seconds);

 private:
  struct Sample {
    double t;
    int64_t prompt_tokens, generated_tokens;
  };
  std::mutex mu_;
  Histogram ttft_, tpot_, e2e_, queue_;
  std::map<std::string, uint64_t> finished_;  // by finish reason
  std::map<int, uint64_t> http_;              // by status code
  std::deque<Sample> samples_;                // for tokens/s, the last minute
};

}  // namespace packinfer::api
