#pragma once
// The model runner: executes step plans. It turns a plan into a token batch, runs the model's
// forward pass over it (writing every planned token's K and V into the cache) and returns the
// wanted logits. It is the only caller of the forward pass: generate, batch jobs, serving and
// the benchmarks all reach the model through here.
//
// It decides nothing: which tokens run, which KV blocks they use and what happens to the logits
// are the scheduler's. It owns no sequence state either, so the same plan run twice on the same
// cache gives the same logits.
#include <cstdint>

#include "batch/token_batch.h"
#include "kv/kv_cache.h"
#include "model/transformer.h"
#include "runner/step_plan.h"

namespace packinfer {

class ModelRunner {
 public:
  ModelRunner(Transformer& model, KvCache& kv);

  // Runs one forward. Throws InvalidArgument for token ids outside the vocabulary and Error for
  // a plan the cache cannot hold (positions beyond a block table, a request twice); the KV of
  // the plan's positions is then undefined.
  void run(const StepPlan& plan, StepOutput& out);

  Transformer& model() { return model_; }
  KvCache& kv() { return kv_; }

 private:
  void check(const StepPlan& plan) const;

  Transformer& model_;
  KvCache& kv_;
  TokenBatch batch_;  // reused: its vectors keep their capacity
};

}  // namespace packinfer
