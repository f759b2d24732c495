#pragma once
// Output of `packinfer bench prefill`: the human-readable table, the JSON list and the SVG charts,
// all from the same measured results.
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "prefill_bench/prefill_bench.h"

namespace packinfer::prefill_bench {

struct PrefillRunInfo {
  std::string model_name, model_path, distribution;
  int threads = 0;
  uint64_t seed = 0;
  int64_t max_batch_tokens = 0;  // the effective per-forward token budget
  int repetitions = 0;
};

// To `out`: what ran (model, threads, prompts, budget), then one row per mode and batch.
void print_prefill_table(std::FILE* out, const PrefillRunInfo& info,
                         const std::vector<PrefillBatchResult>& runs);

// One object per (batch, mode); packed objects carry the speedups over the other modes.
nlohmann::json prefill_json(const PrefillRunInfo& info,
                            const std::vector<PrefillBatchResult>& runs);

// Two charts: for a sweep, speedup of packed vs batch size and peak memory vs batch size; for a
// single batch, batch TTFT per mode and peak memory per mode as bars.
std::string prefill_svg(const PrefillRunInfo& info, const std::vector<PrefillBatchResult>& runs);

}  // namespace packinfer::prefill_bench
