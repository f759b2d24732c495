#include "loadgen/latency_stats.h"

#include <algorithm>
#include <numeric>

#include "report/percentile.h"

namespace packinfer::loadgen {

LatencySummary summarize(const std::vector<double>& sample) {
  LatencySummary s;
  s.count = static_cast<int64_t>(sample.size());
  if (sample.empty()) return s;
  s.mean = std::accumulate(sample.begin(), sample.end(), 0.0) / static_cast<double>(s.count);
  s.p50 = report::percentile(sample, 50);
  s.p90 = report::percentile(sample, 90);
  s.p99 = report::percentile(sample, 99);
  s.max = *std::max_element(sample.begin(), sample.end());
  return s;
}

double ttft_s(const RequestTiming& r) { return r.token_times.empty() ? -1 : r.token_times[0]; }

double tpot_s(const RequestTiming& r) {
  if (r.token_times.empty() || r.output_tokens <= 1) return 0;
  return (r.e2e_s - r.token_times[0]) / static_cast<double>(r.output_tokens - 1);
}

std::vector<double> inter_token_gaps(const RequestTiming& r) {
  std::vector<double> gaps;
  for (size_t i = 1; i < r.token_times.size(); ++i) {
    gaps.push_back(r.token_times[i] - r.token_times[i - 1]);
  }
  return gaps;
}

int64_t count_meeting_slo(const std::vector<RequestTiming>& requests, const Slo& slo) {
  int64_t n = 0;
  for (const RequestTiming& r : requests) {
    if (!r.ok || r.token_times.empty()) continue;
    if (slo.ttft_ms > 0 && ttft_s(r) * 1e3 > slo.ttft_ms) continue;
    if (slo.tpot_ms > 0 && tpot_s(r) * 1e3 > slo.tpot_ms) continue;
    ++n;
  }
  return n;
}

}  // namespace packinfer::loadgen
