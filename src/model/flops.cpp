#include "model/flops.h"

namespace packinfer {

double layer_flops_per_token(const ModelConfig& c) {
  double macs = static_cast<double>(c.n_embd) * (2.0 * c.q_dim() + 2.0 * c.kv_dim()) +
                3.0 * c.n_embd * c.n_ff;
  return 2.0 * macs * c.n_layer;
}

double attention_flops(const ModelConfig& c, double cached, double n) {
  // Token i of the n new ones sees cached + i + 1 positions; 2 flops per element for QK and PV.
  double pairs = n * cached + n * (n + 1) / 2;
  return 4.0 * c.head_dim * c.n_head * c.n_layer * pairs;
}

double lm_head_flops(const ModelConfig& c) { return 2.0 * c.n_vocab * c.n_embd; }

double forward_flops(const ModelConfig& c, const TokenBatch& batch) {
  double f = layer_flops_per_token(c) * static_cast<double>(batch.size()) +
             lm_head_flops(c) * static_cast<double>(batch.logit_rows.size());
  for (const BatchSequence& s : batch.sequences) {
    f += attention_flops(c, static_cast<double>(s.pos0), static_cast<double>(s.n_tokens));
  }
  return f;
}

}  // namespace packinfer
