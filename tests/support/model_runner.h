#pragma once
// Test helper: a loaded model with its own KV cache and thread pool, running token batches
// directly through the Transformer so tests can see every logit.
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "batch/token_batch.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "model/transformer.h"
#include "util/thread_pool.h"

namespace packinfer::test {

class ModelRunner {
 public:
  explicit ModelRunner(const std::string& path, int threads = 2, int64_t kv_tokens = 8192,
                       int32_t block_size = 16);

  const Model& model() const { return *model_; }
  const ModelConfig& config() const { return model_->config(); }
  KvCache& kv() { return *kv_; }
  Transformer& transformer() { return *tf_; }

  // Logits of every position of `ids` for a fresh sequence, in chunks of `chunk` tokens
  // (calls fn(position, logits)). The sequence is kept in `seq` (caller releases).
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
  std::vector<float> logits_;
};

// Index of the largest value, lowest index on ties (llama.cpp's greedy rule).
int32_t argmax(std::span<const float> v);

}  // namespace packinfer::test
