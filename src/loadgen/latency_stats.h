#pragma once
// Latency statistics of a serving benchmark: the summary of a sample (mean, max and the
// percentiles of report/percentile.h), and the per-request figures (TTFT, TPOT, inter-token gaps)
// that serving benchmarks agree on, following the definitions of vLLM's benchmark_serving so
// numbers can be compared.
#include <cstdint>
#include <vector>

namespace packinfer::loadgen {

struct LatencySummary {
  int64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};
LatencySummary summarize(const std::vector<double>& sample);

// One finished request as the statistics need it. Times in seconds from its send.
struct RequestTiming {
  bool ok = false;
  std::vector<double> token_times;  // arrival of each output chunk
  double e2e_s = 0;
  int64_t output_tokens = 0;  // usage.completion_tokens, else the number of chunks
};

// Time to first token; -1 when no token arrived.
double ttft_s(const RequestTiming& r);
// Time per output token after the first: (e2e - ttft) / (tokens - 1); 0 for a single token.
double tpot_s(const RequestTiming& r);
// Every gap between consecutive token chunks.
std::vector<double> inter_token_gaps(const RequestTiming& r);

// SLOs in milliseconds; <= 0 means no limit on that figure.
struct Slo {
  double ttft_ms = 0, tpot_ms = 0;
};
// Requests that succeeded and met every SLO (the numerator of goodput).
int64_t count_meeting_slo(const std::vector<RequestTiming>& requests, const Slo& slo);

}  // namespace packinfer::loadgen
