#include "support/model_runner.h"

#include <algorithm>

namespace packinfer::test {

ModelRunner::ModelRunner(const std::string& path, int threads, int64_t kv_tokens,
                         int32_t block_size)
    : model_(Model::load(path)), pool_(std::make_unique<ThreadPool>(threads)) {
  tf_ = std::make_unique<Transformer>(model_->config(), model_->weights(), *pool_);
  kv_ = std::make_unique<KvCache>(model_->config(),
                                  static_cast<int32_t>(KvCache::blocks_for(kv_tokens, block_size)),
                                  block_size);
}

void ModelRunner::prefill(SequenceKv& seq, std::span<const int32_t> ids, int64_t chunk,
                          const std::function<void(int64_t, std::span<const float>)>& fn) {
  const int64_t vocab = config().n_vocab;
  const int64_t base = seq.n_tokens;
  TokenBatch batch;
  for (int64_t s = 0; s < static_cast<int64_t>(ids.size()); s += chunk) {
    int64_t n = std::min<int64_t>(chunk, static_cast<int64_t>(ids.size()) - s);
    if (!kv_->reserve(seq, seq.n_tokens + n)) throw std::runtime_error("test KV cache too small");
    batch.clear();
    batch.add(&seq, ids.subspan(static_cast<size_t>(s), static_cast<size_t>(n)), LogitsWanted::All);
    tf_->forward(batch, *kv_, logits_);
    for (size_t r = 0; r < batch.logit_rows.size(); ++r) {
      fn(base + s + batch.logit_rows[r],
         std::span<const float>(logits_.data() + r * vocab, static_cast<size_t>(vocab)));
    }
  }
}

std::vector<std::vector<float>> ModelRunner::all_logits(std::span<const int32_t> ids,
                                                        int64_t chunk) {
  std::vector<std::vector<float>> out(ids.size());
  SequenceKv seq;
  prefill(seq, ids, chunk, [&](int64_t pos, std::span<const float> l) {
    out[static_cast<size_t>(pos)].assign(l.begin(), l.end());
  });
  kv_->release(seq);
  return out;
}

std::vector<float> ModelRunner::step(SequenceKv& seq, int32_t token) {
  if (!kv_->reserve(seq, seq.n_tokens + 1)) throw std::runtime_error("test KV cache too small");
  TokenBatch batch;
  batch.add(&seq, std::span<const int32_t>(&token, 1), LogitsWanted::Last);
  tf_->forward(batch, *kv_, logits_);
  return logits_;
}

int32_t argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace packinfer::test
