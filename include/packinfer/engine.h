#pragma once
// packinfer's public API: load a GGUF model, tokenize, generate text, inspect logits.
//
//   packinfer::Engine engine({.model_path = "model.gguf"});
//   auto result = engine.generate({.prompt = "Once upon a time"},
//                                 [](std::string_view text) { fputs(...); return true; });
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "packinfer/chat.h"
#include "packinfer/error.h"
#include "packinfer/generation.h"
#include "packinfer/sampling_params.h"

namespace packinfer {

// Defined in packinfer/batch.h.
struct BatchOptions;
struct BatchItemResult;
struct BatchProgress;
struct BatchStats;

// The engine's internals (src/engine/engine_core.h); an incomplete type outside the library.
struct EngineCore;

struct EngineOptions {
  std::string model_path;
  int32_t n_threads = 0;  // 0 = every core
  int64_t n_ctx = 0;      // max positions per sequence; 0 = the model's, at most 8192
  // Positions per KV block (and prefix-cache granularity); 0 = 16, or 32 when keys are KIVI
  // (they are quantized per block, and 32 positions amortise the per-channel scales).
  int32_t kv_block_size = 0;
  int64_t max_batch_tokens = 512;  // tokens per forward pass (longer prompts run in chunks)
  // Batch-invariant kernels: every token's logits are the same bits whatever else shares its
  // forward pass (chunk size, other requests, prefix-cache hits, recompute after preemption), so
  // seeded sampling is reproducible under any load. Costs prefill speed (README, "Batch
  // invariance"); off by default, as in vLLM and llama.cpp.
  bool batch_invariant = false;
  // How activations meet quantized weights that have an integer path: "f32" (dequantized
  // weights, exact) or "int8" (activations quantized per row, as llama.cpp does; lossy, opt-in,
  // measured by `packinfer kld`). Empty = $PACKINFER_MATMUL_ACT, else f32.
  std::string matmul_act{};
  int64_t kv_mem_bytes = 0;  // KV cache budget; 0 = room for 4 full contexts. Memory is
                             // reserved virtually and committed only as blocks are used.
  int64_t kv_blocks = 0;     // KV cache budget as a block count (wins over kv_mem_bytes)
  // KV cache format (kv_type for keys and values, or each apart; empty = kv_type): f32, f16,
  // bf16, q8_0, q4_0, kivi4, kivi2. Anything but f32 is lossy (`packinfer kld` measures it);
  // f16 is the default, as in llama.cpp. kv_rotate stores Hadamard-rotated keys and values,
  // which helps the low-bit formats.
  std::string kv_type = "f16";
  std::string kv_type_k{}, kv_type_v{};
  bool kv_rotate = false;
  // Disk tier of the prefix cache: published KV blocks are also kept in files under this
  // directory (at most kv_disk_bytes) and read back on a prefix hit, also after a restart.
  // Empty = off. With it, single generate calls use and publish cached prefixes too.
  std::string kv_disk_dir{};
  int64_t kv_disk_bytes = 10ll << 30;
  // Shared KV store (redis://HOST:PORT[/DB]): published blocks are also written to Redis, in the
  // background, and a local prefix miss is looked up there (within kv_store_timeout_ms) before
  // computing. Servers sharing one Redis share their prefixes. Empty = off. An unreachable
  // store only warns; a URL that does not parse is an InvalidArgument.
  std::string kv_store_url{};
  int32_t kv_store_timeout_ms = 250;
};

struct ModelInfo {
  std::string path, name, arch;
  int32_t n_vocab = 0, n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, n_ff = 0;
  int64_t n_ctx = 0;        // positions per sequence this engine allows
  int64_t n_ctx_train = 0;  // what the model was trained with
  int64_t n_params = 0, weight_bytes = 0;
  // Weights repacked into panels at load (F16 and Q8_0 on avx512 and up): anonymous memory that
  // takes the place of their file pages, which are released.
  int64_t panel_bytes = 0;
  int64_t decode_bytes_per_token = 0;  // weight bytes one decode step reads (no embedding table)
  double load_seconds = 0;
  std::string chat_template_name;
  std::string kv_format;          // e.g. "f16", "k=q8_0 v=f16 rotated"
  std::string matmul_act;         // "f32" or "int8": how activations meet quantized weights
  int32_t kv_block_size = 0;      // positions per KV block in use
  double kv_bytes_per_token = 0;  // KV memory per position, all layers, keys and values
  int64_t kv_budget_bytes = 0;    // the KV cache's reserved budget
};

// One entry of Engine::memory_report(): what holds memory beside the mapped weights.
struct MemoryItem {
  std::string name;
  int64_t bytes = 0;
};

class Engine {
 public:
  explicit Engine(const EngineOptions& options);  // throws packinfer::Error
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Throws packinfer::InvalidArgument for bad sampling values, an empty prompt or a prompt that
  // does not fit the context (the message names both lengths).
  GenerationResult generate(const GenerationRequest& request, const TextCallback& on_text = {});

  std::vector<int32_t> tokenize(std::string_view text, bool add_special = true,
                                bool parse_special = true) const;
  std::string detokenize(std::span<const int32_t> ids, bool render_special = true) const;
  // Renders messages with the model's chat template (tokenizer.chat_template).
  std::string apply_chat_template(const std::vector<ChatMessage>& messages,
                                  bool add_generation_prompt = true) const;

  // Evaluates a prompt and calls fn(position, logits) for every position in order (logits
  // predict the token after that position).
  void prompt_logits(std::span<const int32_t> ids,
                     const std::function<void(int64_t, std::span<const float>)>& fn);

  // Runs many requests together (see packinfer/batch.h). Never throws for a bad request: its
  // result carries the error. Results are indexed like `requests`.
  std::vector<BatchItemResult> generate_batch(
      const std::vector<GenerationRequest>& requests, const BatchOptions& options,
      BatchStats* stats = nullptr,
      const std::function<void(size_t, const BatchItemResult&)>& on_done = {},
      const std::function<void(const BatchProgress&)>& on_progress = {});

  const ModelInfo& model_info() const;
  // The engine's own buffers now, largest first: every activation scratch buffer (high-water
  // marks: they grow to the largest step and stay), the logits, and the KV cache's reserved
  // budget, the part of it holding blocks, and its staging. The weights are mapped, not listed.
  std::vector<MemoryItem> memory_report() const;
  // Floating-point operations of prefilling n tokens into an empty cache (layer matmuls, causal
  // attention, the LM head of the last token): what benchmarks divide by time.
  double prompt_flops(int64_t n_tokens) const;
  bool is_end_of_generation(int32_t id) const;

  // The model, KV cache and model runner, for the library's other front (ServingEngine, which
  // drives them from its own thread).
  EngineCore& core() { return *impl_; }

 private:
  std::unique_ptr<EngineCore> impl_;
};

}  // namespace packinfer
