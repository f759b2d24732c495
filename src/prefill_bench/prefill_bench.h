#pragma once
// The measurement behind `packinfer bench prefill`: the same batch of prompts prefilled in each
// prefill mode (packed, padded, single) inside one process, with max_tokens = 1 so the time is
// the batch TTFT, repeated (modes interleaved) and summarised by the median.
#include <cstdint>
#include <string>
#include <vector>

#include "packinfer/batch.h"
#include "packinfer/engine.h"

namespace packinfer::prefill_bench {

struct PrefillBenchOptions {
  std::vector<PrefillMode> modes{PrefillMode::Packed, PrefillMode::Padded, PrefillMode::Single};
  int repetitions = 3;
  int64_t max_batch_tokens = 0;  // 0 = the engine's
};

struct PrefillModeResult {
  PrefillMode mode = PrefillMode::Packed;
  int64_t batch_size = 0;
  std::vector<double> ttft_s;  // batch TTFT of every repetition
  double batch_ttft_s = 0;     // median of ttft_s
  int64_t prompt_tokens = 0;   // real prompt tokens (no padding)
  double prompt_tokens_per_s = 0;
  double peak_rss_mib = 0;      // largest VmHWM of its repetitions (reset before each run)
  double rss_start_mib = 0;     // VmRSS when the mode started (weights, KV reservation, ...)
  bool peak_rss_reset = false;  // false: peak_rss_mib includes everything before this mode
  std::string peak_rss_note;    // why the reset failed
  BatchStats stats;             // of the median repetition
  // "ok", or "out_of_memory" when the KV cache could not hold the mode's batch (as the
  // Prepacking paper reports its OOM cells); the figures above are then empty.
  std::string status = "ok";
  std::string error;  // what ran out, for out_of_memory
};

// All modes measured for one batch (one point of a --sweep-batch).
struct PrefillBatchResult {
  int64_t batch_size = 0;
  int64_t prompt_tokens = 0;
  int64_t min_len = 0, max_len = 0;
  std::vector<PrefillModeResult> modes;
};

// Parses "packed,padded,single" (any subset, in the given order). Throws InvalidArgument.
std::vector<PrefillMode> parse_prefill_modes(const std::vector<std::string>& names);

// Runs `requests` once per mode and repetition (modes interleaved within each repetition). A mode
// whose batch does not fit the KV cache is reported out of memory and not repeated; the other
// modes still run. Throws packinfer::Error if a request fails for another reason.
std::vector<PrefillModeResult> run_prefill_bench(Engine& engine,
                                                 const std::vector<GenerationRequest>& requests,
                                                 const PrefillBenchOptions& options);

// After an untimed warm-up, runs `run_prefill_bench` on the first `size` requests for every size
// of `batch_sizes` (each at most requests.size()), saying on stderr which one when there are
// several.
std::vector<PrefillBatchResult> run_prefill_sweep(Engine& engine,
                                                  const std::vector<GenerationRequest>& requests,
                                                  const std::vector<int64_t>& batch_sizes,
                                                  const PrefillBenchOptions& options);

// Batch TTFT of `mode` divided by packed's: how many times faster packed is (0 if either is
// missing).
double packed_speedup(const std::vector<PrefillModeResult>& results, PrefillMode versus);

}  // namespace packinfer::prefill_bench
