#include "model/model_config.h"

#include "packinfer/error.h"

namespace packinfer {
namespace {

int64_t required_int(const gguf::File& f, const std::string& key) {
  auto v = f.get_int(key);
  if (!v) throw Error(f.name() + ": missing metadata key '" + key + "'");
  return *v;
}

int32_t checked_dim(const gguf::File& f, const std::string& key, int64_t v, int64_t max) {
  if (v <= 0 || v > max) {
    throw Error(f.name() + ": metadata '" + key + "' = " + std::to_string(v) + " is out of range");
  }
  return static_cast<int32_t>(v);
}

}  // namespace

ModelConfig ModelConfig::from_gguf(const gguf::File& f) {
  ModelConfig c;
  auto arch = f.get_string("general.architecture");
  if (!arch) throw Error(f.name() + ": missing metadata key 'general.architecture'");
  c.arch = *arch;
  if (c.arch == "llama") {
    c.rope_style = RopeStyle::Normal;
  } else if (c.arch == "qwen2") {
    c.rope_style = RopeStyle::NeoX;
    c.qkv_bias = true;
  } else {
    throw Error(f.name() + ": unsupported model architecture '" + c.arch +
                "' (supported: llama, qwen2)");
  }
  c.name = f.get_string("general.name").value_or(c.arch);
  const std::string a = c.arch + ".";
  c.n_layer = checked_dim(f, a + "block_count", required_int(f, a + "block_count"), 1024);
  c.n_embd =
      checked_dim(f, a + "embedding_length", required_int(f, a + "embedding_length"), 1 << 16);
  c.n_ff = checked_dim(f, a + "feed_forward_length", required_int(f, a + "feed_forward_length"),
                       1 << 18);
  c.n_head =
      checked_dim(f, a + "attention.head_count", required_int(f, a + "attention.head_count"), 1024);
  int64_t n_head_kv = f.get_int(a + "attention.head_count_kv").value_or(c.n_head);
  c.n_head_kv = checked_dim(f, a + "attention.head_count_kv", n_head_kv, c.n_head);
  if (c.n_head % c.n_head_kv != 0) {
    throw Error(f.name() + ": head_count " + std::to_string(c.n_head) +
                " is not a multiple of head_count_kv " + std::to_string(c.n_head_kv));
  }
  if (c.n_embd % c.n_head != 0)
    throw Error(f.name() + ": embedding_length not divisible by head_count");
  c.head_dim = c.n_embd / c.n_head;
  if (auto kl = f.get_int(a + "attention.key_length"); kl && *kl != c.head_dim) {
    throw Error(f.name() +
                ": attention.key_length != embedding_length / head_count is not supported");
  }
  if (c.head_dim % 2 != 0) throw Error(f.name() + ": head dimension must be even for RoPE");
  if (auto rd = f.get_int(a + "rope.dimension_count"); rd && *rd != c.head_dim) {
    throw Error(f.name() + ": partial RoPE (rope.dimension_count " + std::to_string(*rd) +
                " != head dim " + std::to_string(c.head_dim) + ") is not supported");
  }
  c.n_ctx_train = f.get_int(a + "context_length").value_or(2048);
  if (c.n_ctx_train <= 0) throw Error(f.name() + ": context_length must be positive");
  c.rope_freq_base = static_cast<float>(f.get_float(a + "rope.freq_base").value_or(10000.0));
  c.rms_eps =
      static_cast<float>(f.get_float(a + "attention.layer_norm_rms_epsilon").value_or(1e-5));
  if (!(c.rope_freq_base > 0) || !(c.rms_eps > 0))
    throw Error(f.name() + ": bad rope base or rms eps");
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) throw Error(f.name() + ": missing tensor 'token_embd.weight'");
  if (embd->ne.size() != 2) throw Error(f.name() + ": token_embd.weight must be 2-D");
  c.n_vocab = checked_dim(f, "token_embd rows", embd->ne[1], 1 << 22);
  return c;
}

}  // namespace packinfer
