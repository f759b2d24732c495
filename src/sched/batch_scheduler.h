#pragma once
// Runs a whole batch job: prefill in token batches planned by the packing planner (packed,
// padded or single), then continuous batching of the decodes. A request is admitted when a
// sequence slot is free and the KV cache can hold its prompt plus its maximum output; a finished
// request frees its blocks at once and the next waiting request is admitted (its prefill runs
// as the next wave of packed forwards).
#include <vector>

#include "kv/kv_cache.h"
#include "model/model.h"
#include "model/transformer.h"
#include "packinfer/batch.h"

namespace packinfer {

struct BatchContext {
  const Model& model;
  Transformer& transformer;
  KvCache& kv;
  int64_t n_ctx = 0;             // positions per sequence
  int64_t default_budget = 512;  // tokens per forward when BatchOptions leaves it at 0
};

std::vector<BatchItemResult> run_batch(BatchContext& ctx,
                                       const std::vector<GenerationRequest>& requests,
                                       const BatchOptions& options, BatchStats* stats,
                                       const BatchDoneCallback& on_done,
                                       const BatchProgressCallback& on_progress);

}  // namespace packinfer
