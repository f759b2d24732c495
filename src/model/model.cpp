#include "model/model.h"

#include <xxhash.h>

#include <algorithm>

#include "packinfer/error.h"

namespace packinfer {

std::unique_ptr<Model> Model::load(const std::string& path, MatmulActivations act) {
  std::unique_ptr<Model> m(new Model());
  m->file_ = gguf::File::open(path);
  m->config_ = ModelConfig::from_gguf(*m->file_);
  m->weights_ = ModelWeights::from_gguf(*m->file_, m->config_, act);
  m->tokenizer_ = Tokenizer::from_gguf(*m->file_);
  if (m->tokenizer_->vocab_size() != m->config_.n_vocab) {
    throw Error(path + ": tokenizer has " + std::to_string(m->tokenizer_->vocab_size()) +
                " tokens but token_embd has " + std::to_string(m->config_.n_vocab) + " rows");
  }
  // The tokenizer has copied the vocabulary and merges into its own tables; the parsed arrays
  // (7 MiB for a 49k-token vocabulary) would otherwise sit beside them for the process's life.
  m->file_->drop_metadata(Tokenizer::kCopiedArrays);
  m->chat_template_ = m->file_->get_string("tokenizer.chat_template").value_or("");
  for (const gguf::TensorInfo& t : m->file_->tensors()) {
    m->n_params_ += t.n_elements();
    m->weight_bytes_ += static_cast<int64_t>(t.nbytes);
  }
  return m;
}

}  // namespace packinfer

namespace packinfer {

uint64_t Model::fingerprint() const {
  if (fingerprint_ != 0) return fingerprint_;
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  auto add = [&](const void* p, size_t n) { XXH3_64bits_update(st, p, n); };
  constexpr uint64_t kEdge = 4096, kStride = 1 << 20, kSample = 256;
  for (const gguf::TensorInfo& t : file_->tensors()) {
    add(t.name.data(), t.name.size());
    add(&t.type, sizeof t.type);
    for (int64_t d : t.ne) add(&d, sizeof d);
    const uint64_t n = t.nbytes;
    add(t.data, std::min(n, kEdge));
    for (uint64_t off = kStride; off + kSample <= n; off += kStride) add(t.data + off, kSample);
    if (n > kEdge) add(t.data + n - kEdge, kEdge);
  }
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  fingerprint_ = h == 0 ? 1 : h;
  return fingerprint_;
}

}  // namespace packinfer
