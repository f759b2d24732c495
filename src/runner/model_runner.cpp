#include "runner/model_runner.h"

#include <chrono>
#include <string>
#include <unordered_set>

#include "model/flops.h"
#include "packinfer/error.h"

namespace packinfer {

ModelRunner::ModelRunner(Transformer& model, KvCache& kv) : model_(model), kv_(kv) {}

void ModelRunner::check(const StepPlan& plan) const {
  std::unordered_set<uint64_t> seen;
  for (const PlannedSequence& s : plan.sequences) {
    if (!seen.insert(s.request_id).second) {
      throw Error("request " + std::to_string(s.request_id) +
                  " appears twice in one step plan (its tokens must run in order)");
    }
    const int64_t end = s.pos0 + static_cast<int64_t>(s.tokens.size());
    if (s.pos0 < 0 || s.n_padding < 0 || s.n_padding > static_cast<int64_t>(s.tokens.size()) ||
        static_cast<int64_t>(s.blocks.size()) * kv_.block_size() < end) {
      throw Error("step plan for request " + std::to_string(s.request_id) +
                  " has no KV blocks reserved for positions up to " + std::to_string(end));
    }
  }
}

void ModelRunner::run(const StepPlan& plan, StepOutput& out) {
  check(plan);
  batch_.clear();
  for (const PlannedSequence& s : plan.sequences) {
    batch_.add(s.tokens, s.pos0, s.blocks, s.logit_rows);
  }
  const auto t0 = std::chrono::steady_clock::now();
  model_.forward(batch_, kv_, out.logits);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.flops = forward_flops(model_.config(), batch_);
  out.n_vocab = model_.config().n_vocab;
}

}  // namespace packinfer
