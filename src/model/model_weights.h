#pragma once
// Views of a model's weight tensors inside the mapped GGUF file, checked against the config's
// shapes when loaded. Small 1-D tensors (norms, biases) are converted to owned f32. F16 and Q8_0
// matrices are also repacked into panels for the panel GEMM when the active level has its tile
// (weight_panels.h); their file pages are then released, so the resident total stays about the
// weights' size.
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "kernels/matmul.h"
#include "kernels/weight_panels.h"
#include "model/model_config.h"

namespace packinfer {

struct LayerWeights {
  std::vector<float> attn_norm;
  WeightMatrix wq, wk, wv, wo;
  std::vector<float> bq, bk, bv;  // empty when the architecture has no q/k/v biases
  std::vector<float> ffn_norm;
  WeightMatrix w_gate, w_up, w_down;
};

struct ModelWeights {
  WeightMatrix tok_embd;  // [n_vocab, n_embd]
  std::vector<float> output_norm;
  WeightMatrix output;  // [n_vocab, n_embd]; the embedding matrix when tied
  bool tied_output = false;
  std::vector<LayerWeights> layers;
  // The panels the matrices above point to (WeightMatrix::panels), made at load when the
  // active level has the panel GEMM tile; shared, so a copy of the weights stays valid.
  std::shared_ptr<uint16_t[]> panel_memory;
  int64_t panel_bytes = 0;

  // Throws packinfer::Error naming the tensor for a missing tensor, a wrong shape or a type
  // packinfer cannot compute with. `act` is how the products will meet the weights: with int8
  // activations Q8_0 matrices keep their GGUF rows only (the integer path reads those).
  static ModelWeights from_gguf(const gguf::File& file, const ModelConfig& config,
                                MatmulActivations act = MatmulActivations::Default);
};

}  // namespace packinfer
