#pragma once
// The forward pass of a llama-family decoder (llama, qwen2) over a token batch.
// Linear layers see the whole batch as one [N, d] matrix (one GEMM per weight for all
// sequences); only attention looks at sequence boundaries. Activation memory is bounded: the
// MLP runs over mini-sequences of at most `mlp_chunk` tokens, 64 on the panel GEMM (MOM), and the
// LM head runs only on the tokens whose logits are wanted, again in chunks.
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "batch/token_batch.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kv/kv_cache.h"
#include "model/model_config.h"
#include "model/model_weights.h"
#include "util/thread_pool.h"

namespace packinfer {

class Transformer {
 public:
  Transformer(const ModelConfig& config, const ModelWeights& weights, ThreadPool& pool);

  // Runs the batch: writes every token's K and V into the cache (each sequence's block table
  // must cover pos0 + n_tokens positions) and returns the logits of batch.logit_rows as
  // [logit_rows.size(), n_vocab] in `logits`. Called only by the model runner
  // (runner/model_runner.h), which owns the batch; the caller's bookkeeping of what the cache
  // holds is the scheduler's.
  void forward(const TokenBatch& batch, KvCache& kv, std::vector<float>& logits);

  const ModelConfig& config() const { return config_; }
  void set_mlp_chunk(int64_t tokens) { mlp_chunk_ = tokens; }
  // Batch-invariant kernels (EngineOptions::batch_invariant): a token's results do not depend on
  // what else is in the batch.
  void set_batch_invariant(bool on) { batch_invariant_ = on; }
  // How activations meet quantized weights (EngineOptions::matmul_act).
  void set_matmul_activations(MatmulActivations act) { act_ = act; }
  // Bytes of activation scratch held now (its high-water mark: buffers only grow).
  int64_t scratch_bytes() const;
  // The same, buffer by buffer: {name, bytes}, for memory reports.
  std::vector<std::pair<std::string, int64_t>> scratch_buffers() const;
  // Frees the activation scratch (it is regrown by the next forward).
  void release_scratch();

 private:
  void attention_layer(int32_t layer, const TokenBatch& batch, KvCache& kv);
  void mlp_layer(int32_t layer, int64_t n_tokens);
  // Tokens per MLP mini-sequence for this layer's weights.
  int64_t mlp_rows(const LayerWeights& w) const;
  void lm_head(const TokenBatch& batch, std::vector<float>& logits);
  void linear(const WeightMatrix& w, const float* x, int64_t M, float* y) {
    matmul_with(active_kernels(), w, x, w.cols, M, y, w.rows, pool_, act_, order());
  }
  // Several projections of the same x (q, k, v; gate, up) in one parallel pass where it can.
  void linear_many(std::span<const MatmulTarget> targets, const float* x, int64_t M) {
    matmul_many_with(active_kernels(), targets, x, targets.front().w->cols, M, pool_, act_,
                     order());
  }
  MatmulOrder order() const {
    return batch_invariant_ ? MatmulOrder::BatchInvariant : MatmulOrder::Fastest;
  }

  const ModelConfig& config_;
  const ModelWeights& weights_;
  ThreadPool& pool_;
  // MLP mini-sequence: at most the step's tokens, and kPanelMlpRows on the panel GEMM.
  static constexpr int64_t kPanelMlpRows = 64;
  int64_t mlp_chunk_ = 512;
  bool batch_invariant_ = false;
  MatmulActivations act_ = MatmulActivations::Default;
  // Scratch reused across calls (grown on demand, never shrunk). A layer's attention and its MLP
  // never run at once, so phase_ holds the attention's q, k and v, then the MLP's gate and up:
  // 2.3 MiB less than a buffer each on Qwen2.5-0.5B (q, k and v of 512 tokens against the gate
  // and up of 64).
  std::vector<float> x_, h_, phase_;
};

}  // namespace packinfer
