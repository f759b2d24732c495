#pragma once
// Hyper-parameters of a decoder-only transformer, read from GGUF metadata.
#include <cstdint>
#include <string>

#include "gguf/gguf_file.h"
#include "kernels/elementwise.h"
#include "kv/kv_cache.h"

namespace packinfer {

struct ModelConfig {
  std::string arch;  // "llama" or "qwen2"
  std::string name;  // general.name, for messages
  int32_t n_layer = 0;
  int32_t n_embd = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;
  int32_t n_ff = 0;
  int32_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-5f;
  RopeStyle rope_style = RopeStyle::Normal;
  bool qkv_bias = false;

  int32_t q_dim() const { return n_head * head_dim; }
  int32_t kv_dim() const { return n_head_kv * head_dim; }
  KvShape kv_shape() const {
    return {.n_layer = n_layer,
            .n_kv_heads = n_head_kv,
            .head_dim = head_dim,
            .rope_freq_base = rope_freq_base,
            .rope_style = rope_style};
  }

  // Throws packinfer::Error for an unknown architecture (naming it) or inconsistent values.
  static ModelConfig from_gguf(const gguf::File& file);
};

}  // namespace packinfer
