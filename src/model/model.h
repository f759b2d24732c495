#pragma once
// A loaded model: the mapped GGUF file, its config, weight views and tokenizer.
#include <memory>
#include <string>

#include "gguf/gguf_file.h"
#include "model/model_config.h"
#include "model/model_weights.h"
#include "tokenizer/tokenizer.h"

namespace packinfer {

class Model {
 public:
  // Throws packinfer::Error naming the file and the problem.
  // `act`: how products will meet the weights (ModelWeights::from_gguf).
  static std::unique_ptr<Model> load(const std::string& path,
                                     MatmulActivations act = MatmulActivations::Default);

  const gguf::File& file() const { return *file_; }
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // tokenizer.chat_template, or "" when the file has none.
  const std::string& chat_template() const { return chat_template_; }
  // Parameters of the 2-D weights and total tensor bytes.
  int64_t n_params() const { return n_params_; }
  int64_t weight_bytes() const { return weight_bytes_; }
  // Identifies the weights (not just the shapes): a hash of every tensor's name, type, shape and
  // of samples of its bytes (its first and last 4 KiB and 256 bytes of every MiB). Two files
  // with the same architecture but other weights differ. Computed on first use.
  uint64_t fingerprint() const;

 private:
  Model() = default;
  std::unique_ptr<gguf::File> file_;
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::string chat_template_;
  int64_t n_params_ = 0;
  int64_t weight_bytes_ = 0;
  mutable uint64_t fingerprint_ = 0;
};

}  // namespace packinfer
