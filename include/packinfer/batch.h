#pragma once
// Many prompts at once (offline batch jobs, benchmarks): prefill runs in packed token batches
// under a per-forward token budget (Prepacking), then all sequences decode together with
// continuous batching; a finished sequence frees its KV blocks and the next prompt is admitted.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "packinfer/generation.h"

namespace packinfer {

enum class PrefillMode {
  Packed,  // bin-pack prompts into forwards; no padding (default)
  Padded,  // Hugging Face baseline: each forward's prompts padded to its longest, pads masked
  Single,  // one request at a time
};

const char* prefill_mode_name(PrefillMode mode);
// "packed", "padded", "single"; throws InvalidArgument otherwise.
PrefillMode parse_prefill_mode(const std::string& name);

struct BatchOptions {
  PrefillMode mode = PrefillMode::Packed;
  int64_t max_batch_tokens = 0;  // tokens per forward; 0 = the engine's max_batch_tokens
  int32_t max_seqs = 64;         // sequences decoding at once (also limited by KV memory)
  bool plan_order = true;        // reorder the job: shared prefixes together, long decodes first
  // Reuse the KV of prompt prefixes computed earlier in the job (whole KV blocks). Requests
  // that share a not-yet-computed prefix with one being prefilled wait one wave, so the shared
  // part is computed once (BatchLLM / Prompt Cache).
  bool prefix_cache = true;
};

struct BatchItemResult {
  std::string error;  // non-empty: this request failed (bad parameters, too long, ...)
  bool out_of_memory = false;  // it failed because the KV cache could not hold it
  GenerationResult result;
  double ttft_seconds = 0;    // from the start of the batch to this request's first token
  double finish_seconds = 0;  // from the start of the batch to its last token
};

struct BatchProgress {
  int64_t done = 0, total = 0;
  int64_t prompt_tokens = 0;     // prefilled so far
  int64_t generated_tokens = 0;  // generated so far
  double elapsed_seconds = 0;
};

struct BatchStats {
  double makespan_seconds = 0;          // whole job
  double all_first_tokens_seconds = 0;  // until every request had its first token (batch TTFT)
  double prefill_seconds = 0;           // time spent in forwards that carried prompt tokens
  int64_t prompt_tokens = 0;            // prompt tokens computed (cached ones excluded)
  int64_t cached_prompt_tokens = 0;     // prompt tokens whose KV was reused from the prefix cache
  int64_t generated_tokens = 0;
  int64_t padding_tokens = 0;  // computed for nothing (padded mode)
  int64_t n_forwards = 0;
  double packing_efficiency = 0;          // real prompt tokens / (prefill forwards * token budget)
  int64_t peak_activation_bytes = 0;      // largest scratch memory of the forward pass
  int64_t peak_kv_bytes = 0;              // largest KV memory in use
  double estimated_makespan_seconds = 0;  // offline planner's estimate (0 = not computed)
  // Compute lower bound: the job's total FLOPs at the best FLOP/s any of its forwards reached.
  double lower_bound_seconds = 0;
};

// Called (on the calling thread) when a request finishes, in completion order.
using BatchDoneCallback = std::function<void(size_t index, const BatchItemResult& result)>;
using BatchProgressCallback = std::function<void(const BatchProgress& progress)>;

}  // namespace packinfer
