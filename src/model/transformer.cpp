#include "model/transformer.h"

#include <algorithm>
#include <cmath>

#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/hadamard.h"
#include "kernels/type_kernels.h"
#include "packinfer/error.h"

namespace packinfer {
namespace {

// Queries per attention work item: small enough that the items of a short sequence still spread
// over both cores, large enough that each K/V block read is reused by many queries.
constexpr int64_t kAttentionQueryTile = 32;
// Fewest queries per item when a short sequence is cut into one item per thread. Each item reads
// the whole K/V for its rows; with K/V blocks prefetched ahead (attention kernels) 8-query items
// made mixed steps of 16-20 tokens at 3,000 positions 2-8% faster than 12-query ones (without
// the prefetch they had been slower), and 6 gained nothing more (bench/RESULTS.md).
constexpr int64_t kMinQueriesToSplit = 8;

void grow(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

void add_bias_rows(float* y, const std::vector<float>& bias, int64_t rows, int64_t n) {
  if (bias.empty()) return;
  for (int64_t r = 0; r < rows; ++r) add_inplace(y + r * n, bias.data(), n);
}

}  // namespace

Transformer::Transformer(const ModelConfig& config, const ModelWeights& weights, ThreadPool& pool)
    : config_(config), weights_(weights), pool_(pool) {}

int64_t Transformer::scratch_bytes() const {
  size_t n = 0;
  for (const auto* v : {&x_, &h_, &phase_}) n += v->capacity();
  return static_cast<int64_t>(n * sizeof(float));
}

std::vector<std::pair<std::string, int64_t>> Transformer::scratch_buffers() const {
  const int64_t f = sizeof(float);
  return {{"residual stream x [tokens, n_embd]", static_cast<int64_t>(x_.capacity()) * f},
          {"normed input h, then attention output [tokens, n_embd]",
           static_cast<int64_t>(h_.capacity()) * f},
          {"queries q (then output projection), new keys k and values v [tokens, ...]; then MLP "
           "gate and up [mini-sequence, n_ff]",
           static_cast<int64_t>(phase_.capacity()) * f}};
}

void Transformer::release_scratch() {
  for (auto* v : {&x_, &h_, &phase_}) {
    v->clear();
    v->shrink_to_fit();
  }
}

void Transformer::forward(const TokenBatch& batch, KvCache& kv, std::vector<float>& logits) {
  const int64_t n = batch.size();
  const int64_t d = config_.n_embd;
  if (n == 0) {
    logits.clear();
    return;
  }
  for (int32_t t : batch.tokens) {
    if (t < 0 || t >= config_.n_vocab) {
      throw InvalidArgument("token id " + std::to_string(t) + " is outside the vocabulary (size " +
                            std::to_string(config_.n_vocab) + ")");
    }
  }
  for (const BatchSequence& s : batch.sequences) {
    if (static_cast<int64_t>(s.blocks.size()) * kv.block_size() < s.pos0 + s.n_tokens) {
      throw Error("token batch sequence has no KV blocks reserved for its positions");
    }
  }
  grow(x_, n * d);
  const WeightMatrix& embd = weights_.tok_embd;
  pool_.parallel_for(n, 16, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      dequantize_row(embd.type, embd.row(batch.tokens[static_cast<size_t>(t)]), x_.data() + t * d,
                     d);
    }
  });
  for (int32_t l = 0; l < config_.n_layer; ++l) {
    attention_layer(l, batch, kv);
    mlp_layer(l, n);
  }
  lm_head(batch, logits);
}

void Transformer::attention_layer(int32_t layer, const TokenBatch& batch, KvCache& kv) {
  const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
  const int64_t n = batch.size();
  const int64_t d = config_.n_embd;
  const int64_t qd = config_.q_dim();
  const int64_t kvd = config_.kv_dim();
  // Two buffers serve twice: h holds the normed input until the QKV projection has read it, then
  // the attention output; q holds the queries until attention has read them, then the output
  // projection. A step holds no buffer of its own for either. q, k and v live in the buffer the
  // MLP's gate and up use later (phase_).
  grow(h_, n * std::max(d, qd));
  const int64_t q_floats = n * std::max(qd, d);  // the output projection reuses it
  grow(phase_, q_floats + 2 * n * kvd);
  float* const q = phase_.data();
  float* const k = q + q_floats;
  float* const v = k + n * kvd;

  rms_norm(x_.data(), w.attn_norm.data(), h_.data(), n, d, config_.rms_eps);
  const MatmulTarget qkv[] = {{&w.wq, q, qd}, {&w.wk, k, kvd}, {&w.wv, v, kvd}};
  linear_many(qkv, h_.data(), n);
  add_bias_rows(q, w.bq, n, qd);
  add_bias_rows(k, w.bk, n, kvd);
  add_bias_rows(v, w.bv, n, kvd);
  rope(q, n, qd, config_.n_head, config_.head_dim, batch.positions.data(), config_.rope_freq_base,
       config_.rope_style);
  rope(k, n, kvd, config_.n_head_kv, config_.head_dim, batch.positions.data(),
       config_.rope_freq_base, config_.rope_style);

  for (const BatchSequence& s : batch.sequences) {
    for (int64_t i = 0; i < s.n_tokens; ++i) {
      const int64_t t = s.begin + i;
      kv.write(layer, s.blocks, s.pos0 + i, k + t * kvd, v + t * kvd);
    }
  }

  // Work items: (sequence, KV head, tile of queries). Each attends only within its sequence.
  // A rotated cache stores H k and H v: rotating q keeps every score, and rotating the output
  // back gives sum p v (kernels/hadamard.h).
  const bool rotated = kv.format().rotate;
  if (rotated) hadamard_rows(q, n * config_.n_head, config_.head_dim, config_.head_dim);

  AttentionShape shape;
  shape.n_heads = config_.n_head;
  shape.n_kv_heads = config_.n_head_kv;
  shape.head_dim = config_.head_dim;
  shape.block_size = kv.block_size();
  shape.scale = 1.0f / std::sqrt(static_cast<float>(config_.head_dim));
  shape.batch_invariant = batch_invariant_;
  const KvLayerView view = kv.layer_view(layer);
  std::vector<AttentionItem> items;
  for (const BatchSequence& s : batch.sequences) {
    // Evenly sized tiles, and a short chunk (a prompt chunk beside decodes) cut into one tile per
    // thread when each keeps kMinQueriesToSplit queries: with few KV heads (3 on SmolLM2) a
    // 27-token chunk would be 3 items on 2 threads, and one thread would run two of them.
    const int64_t n_tiles =
        std::max((s.n_tokens + kAttentionQueryTile - 1) / kAttentionQueryTile,
                 std::min<int64_t>(pool_.size(), s.n_tokens / kMinQueriesToSplit));
    const int64_t tile = (s.n_tokens + n_tiles - 1) / n_tiles;
    for (int64_t q0 = 0; q0 < s.n_tokens; q0 += tile) {
      for (int32_t h = 0; h < config_.n_head_kv; ++h) {
        AttentionItem it;
        it.q = q + s.begin * qd;
        it.q_stride = qd;
        it.out = h_.data() + s.begin * qd;
        it.out_stride = qd;
        it.q_begin = q0;
        it.q_end = std::min(s.n_tokens, q0 + tile);
        it.pos0 = s.pos0;
        it.kv_head = h;
        it.block_table = s.blocks.data();
        items.push_back(it);
      }
    }
  }
  // Later tiles see more keys: hand them out first so the tail of the loop is short work.
  std::reverse(items.begin(), items.end());
  pool_.parallel_for(static_cast<int64_t>(items.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) attention(shape, view, items[static_cast<size_t>(i)]);
  });

  if (rotated) {
    hadamard_rows(h_.data(), n * config_.n_head, config_.head_dim, config_.head_dim);
  }
  linear(w.wo, h_.data(), n, q);
  add_inplace(x_.data(), q, n * d);
}

int64_t Transformer::mlp_rows(const LayerWeights& w) const {
  // The gate and up buffers, [rows, n_ff] f32 each, are a step's largest activations. The panel
  // GEMM runs 64 or 128 rows as fast as 512 or faster (bench/RESULTS.md, "MLP mini-sequence"),
  // with the same sums, so there the buffers shrink to an eighth: 2.4 MiB less than 128 rows on
  // Qwen2.5-0.5B. The blocked and int8 GEMMs lose 6-50% below 512 rows and keep the step's size.
  const KernelTable& kt = active_kernels();
  const bool panels = runs_on_panels(kt, w.w_gate, act_) && runs_on_panels(kt, w.w_up, act_) &&
                      runs_on_panels(kt, w.w_down, act_);
  const int64_t step = std::max<int64_t>(1, mlp_chunk_);
  return panels ? std::min(step, kPanelMlpRows) : step;
}

void Transformer::mlp_layer(int32_t layer, int64_t n) {
  const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
  const int64_t d = config_.n_embd;
  const int64_t ff = config_.n_ff;
  const int64_t chunk = std::min(n, mlp_rows(w));
  grow(h_, n * d);
  grow(phase_, 2 * chunk * ff);  // the attention's q, k and v are dead by now
  float* const gate = phase_.data();
  float* const up = gate + chunk * ff;
  rms_norm(x_.data(), w.ffn_norm.data(), h_.data(), n, d, config_.rms_eps);
  for (int64_t t0 = 0; t0 < n; t0 += chunk) {
    const int64_t m = std::min(chunk, n - t0);
    float* h = h_.data() + t0 * d;
    const MatmulTarget gate_up[] = {{&w.w_gate, gate, ff}, {&w.w_up, up, ff}};
    linear_many(gate_up, h, m);
    swiglu(gate, up, gate, m * ff);
    linear(w.w_down, gate, m, h);
  }
  add_inplace(x_.data(), h_.data(), n * d);
}

void Transformer::lm_head(const TokenBatch& batch, std::vector<float>& logits) {
  const int64_t rows = static_cast<int64_t>(batch.logit_rows.size());
  const int64_t d = config_.n_embd;
  const int64_t vocab = config_.n_vocab;
  logits.resize(static_cast<size_t>(rows * vocab));
  if (rows == 0) return;
  grow(h_, rows * d);
  for (int64_t r = 0; r < rows; ++r) {
    rms_norm(x_.data() + batch.logit_rows[static_cast<size_t>(r)] * d, weights_.output_norm.data(),
             h_.data() + r * d, 1, d, config_.rms_eps);
  }
  linear(weights_.output, h_.data(), rows, logits.data());
}

}  // namespace packinfer
