#pragma once
// The figures of one `bench serve` run, computed from the raw per-request timings: latency
// summaries, throughput, goodput, failures, and for the long-prompt scenario the stall the long
// prompt caused in the decoding streams.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "loadgen/latency_stats.h"
#include "loadgen/serve_load.h"

namespace packinfer::loadgen {

struct RunMetrics {
  int64_t requests = 0, completed = 0, failed = 0;
  std::string first_error;
  double duration_s = 0;
  LatencySummary ttft_ms, tpot_ms, itl_ms, e2e_ms;
  int64_t prompt_tokens = 0, output_tokens = 0, cached_tokens = 0;
  double request_throughput = 0;  // completed requests/s
  double output_tokens_per_s = 0, prompt_tokens_per_s = 0;
  Slo slo;
  int64_t good_requests = 0;
  double goodput = 0;  // requests/s meeting every SLO
  // (send time s, TTFT ms) of every request that produced a token, in plan order: drift over a
  // long run shows here first.
  std::vector<std::pair<double, double>> ttft_over_time;
  // Long-prompt-during-decode scenario (has_stall_figures): the streams' inter-token gaps and the
  // long prompt's TTFT.
  bool has_stall_figures = false;
  LatencySummary stream_itl_ms;
  double max_stall_ms = 0;
  double long_prompt_ttft_ms = 0;
};

// Latency figures cover the completed requests; the stall figures the "streams" group.
RunMetrics compute_metrics(const std::vector<PlannedRequest>& plan, const LoadResult& load,
                           const Slo& slo);

// The timing view of one outcome (output tokens: usage if the server sent it, else chunks).
RequestTiming timing_of(const StreamResult& r);

}  // namespace packinfer::loadgen
