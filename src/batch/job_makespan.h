#pragma once
// How long a whole batch job takes in a given admission order: a small event simulation of
// continuous batching under a linear cost model, and a compute lower bound to judge it against.
// Used to compare orders offline (job_planner.h), not to predict wall time to the percent.
#include <cstdint>
#include <span>

#include "batch/job_planner.h"

namespace packinfer {

// The defaults are placeholders of a plausible order of magnitude for a small model on a desktop
// CPU; calibrate them from measured prefill and decode throughput before trusting estimates.
struct CostModel {
  double prefill_tokens_per_s = 1000;  // sustained prefill throughput
  // One decode step over a batch of b sequences takes decode_step_base_s + b *
  // decode_step_per_seq_s: the base is reading the weights once, the slope the per-sequence
  // compute and KV reads.
  double decode_step_base_s = 0.05;
  double decode_step_per_seq_s = 0.001;
  double decode_step_seconds(int64_t batch) const {
    return decode_step_base_s + static_cast<double>(batch) * decode_step_per_seq_s;
  }
};

enum class PrefixReuse {
  None,             // every prompt is prefilled in full
  PreviousRequest,  // a request skips the prefix it shares with the one admitted just before it
                    // (a cache that keeps at least the latest prompt: rewards grouping)
};

struct MakespanOptions {
  int64_t max_concurrent_seqs = 16;  // sequences decoding at once
  PrefixReuse prefix_reuse = PrefixReuse::None;
};

struct MakespanEstimate {
  double seconds = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  int64_t prefill_tokens = 0;  // prompt tokens actually computed
  int64_t decode_steps = 0;
  int64_t decode_tokens = 0;  // tokens produced by decode steps (the first comes from prefill)
};

// Simulates continuous batching: requests are admitted in `order` whenever fewer than
// max_concurrent_seqs are running; an admitted request's prefill runs at once and stalls
// decoding (prefill-first scheduling without chunking), producing its first token; then every
// decode step advances all running requests by one token, each leaving after max_new_tokens.
// Throws InvalidArgument if order is not a permutation of the requests or a parameter is out of
// range (prefill_tokens_per_s <= 0, negative step costs, max_concurrent_seqs < 1).
MakespanEstimate estimate_makespan(std::span<const JobRequest> requests,
                                   std::span<const int64_t> order, const CostModel& cost,
                                   const MakespanOptions& options);

// No order and no scheduler can finish sooner than total work / peak compute: flops_per_token x
// (distinct prompt tokens + decode-step tokens) / peak_flops_per_s. Below estimate_makespan
// whenever the cost model is no faster than peak (prefill_tokens_per_s <= peak / flops_per_token
// and decode_step_per_seq_s >= flops_per_token / peak). Throws InvalidArgument unless both
// arguments are positive.
double makespan_lower_bound(std::span<const JobRequest> requests, double flops_per_token,
                            double peak_flops_per_s);

}  // namespace packinfer
