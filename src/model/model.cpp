#include "model/model.h"

#include "packinfer/error.h"

namespace packinfer {

std::unique_ptr<Model> Model::load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  m->file_ = gguf::File::open(path);
  m->config_ = ModelConfig::from_gguf(*m->file_);
  m->weights_ = ModelWeights::from_gguf(*m->file_, m->config_);
  m->tokenizer_ = Tokenizer::from_gguf(*m->file_);
  if (m->tokenizer_->vocab_size() != m->config_.n_vocab) {
    throw Error(path + ": tokenizer has " + std::to_string(m->tokenizer_->vocab_size()) +
                " tokens but token_embd has " + std::to_string(m->config_.n_vocab) + " rows");
  }
  m->chat_template_ = m->file_->get_string("tokenizer.chat_template").value_or("");
  for (const gguf::TensorInfo& t : m->file_->tensors()) {
    m->n_params_ += t.n_elements();
    m->weight_bytes_ += static_cast<int64_t>(t.nbytes);
  }
  return m;
}

}  // namespace packinfer
