#pragma once
// Test helper: a loaded model with its own KV cache, thread pool and model runner, for tests
// that want every logit. Everything runs through the real ModelRunner with step plans built
// here, as the scheduler would build them.
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kv/kv_cache.h"
#include "model/model.h"
#include "model/transformer.h"
#include "runner/model_runner.h"
#include "runner/step_plan.h"
#include "util/thread_pool.h"

namespace packinfer::test {

class TestModel {
 public:
  explicit TestModel(const std::string& path, int threads = 2, int64_t kv_tokens = 8192,
                     int32_t block_size = 16);

  const Model& model() const { return *model_; }
  const ModelConfig& config() const { return model_->config(); }
  KvCache& kv() { return *kv_; }
  ModelRunner& runner() { return *runner_; }
  Transformer& transformer() { return *tf_; }

  // A planned sequence for `seq`: `tokens` at positions seq.n_tokens..., with KV reserved for
  // them (and `pads` more positions), logits for `logit_rows`.
  PlannedSequence plan(SequenceKv& seq, std::span<const int32_t> tokens,
                       std::vector<int32_t> logit_rows, uint64_t id = 0, int64_t pads = 0);
  // Runs a plan and returns its logits rows ([rows][n_vocab]).
  std::vector<std::vector<float>> run(const StepPlan& plan);

  // Runs `prompts` as fresh sequences packed into one forward, every position's logits wanted;
  // returns them flat, prompt after prompt ([sum of lengths][n_vocab]). Frees the KV after.
  std::vector<float> packed_logits(const std::vector<std::vector<int32_t>>& prompts);

  // Logits of every position of `ids` for `seq`, in chunks of `chunk` tokens (calls
  // fn(position, logits)); seq's n_tokens advances (caller releases).
  void prefill(SequenceKv& seq, std::span<const int32_t> ids, int64_t chunk,
               const std::function<void(int64_t, std::span<const float>)>& fn);
  // All logits of every position (rows of n_vocab).
  std::vector<std::vector<float>> all_logits(std::span<const int32_t> ids, int64_t chunk = 4096);
  // Appends one token to seq and returns the logits after it.
  std::vector<float> step(SequenceKv& seq, int32_t token);

 private:
  std::unique_ptr<Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Transformer> tf_;
  std::unique_ptr<KvCache> kv_;
  std::unique_ptr<ModelRunner> runner_;
  StepOutput out_;
};

// Index of the largest value, lowest index on ties (llama.cpp's greedy rule).
int32_t argmax(std::span<const float> v);

}  // namespace packinfer::test
