#include "model/model_weights.h"

#include "kernels/kernel_table.h"
#include "kernels/type_kernels.h"
#include "packinfer/error.h"

namespace packinfer {
namespace {

std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

const gguf::TensorInfo& find(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (t == nullptr) throw Error(f.name() + ": missing tensor '" + name + "'");
  return *t;
}

WeightMatrix matrix(const gguf::File& f, const std::string& name, int64_t rows, int64_t cols) {
  const gguf::TensorInfo& t = find(f, name);
  if (t.ne.size() != 2 || t.ne[0] != cols || t.ne[1] != rows) {
    throw Error(f.name() + ": tensor '" + name + "' has shape " + shape_str(t.ne) + ", expected [" +
                std::to_string(cols) + ", " + std::to_string(rows) + "]");
  }
  if (!is_supported_weight_type(t.ggml_type())) {
    throw Error(f.name() + ": tensor '" + name + "' has type " + ggml_type_name(t.type) +
                ", which packinfer cannot compute with (supported: F32, F16, BF16, Q8_0, Q4_0, "
                "Q2_K, Q4_K, Q5_K, Q6_K)");
  }
  auto traits = ggml_type_traits(t.type);
  WeightMatrix w;
  w.type = t.ggml_type();
  w.data = t.data;
  w.rows = rows;
  w.cols = cols;
  w.row_bytes = ggml_row_size(*traits, cols);
  return w;
}

std::vector<float> vector_f32(const gguf::File& f, const std::string& name, int64_t n) {
  const gguf::TensorInfo& t = find(f, name);
  if (t.n_elements() != n || t.ne[0] != n) {
    throw Error(f.name() + ": tensor '" + name + "' has shape " + shape_str(t.ne) + ", expected [" +
                std::to_string(n) + "]");
  }
  if (!is_supported_weight_type(t.ggml_type())) {
    throw Error(f.name() + ": tensor '" + name + "' has unsupported type " +
                ggml_type_name(t.type));
  }
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(t.ggml_type(), t.data, out.data(), n);
  return out;
}

// Repacks the F16 and Q8_0 matrices into panels when the active level has their panel tile, all
// into one block of memory, and lets the OS drop the file pages as they are copied (the panels
// are what products read from now on).
void add_panels(const gguf::File& f, const std::vector<WeightMatrix*>& matrices, ModelWeights& out,
                MatmulActivations act) {
  const KernelTable& kt = active_kernels();
  if (act == MatmulActivations::Default) act = default_matmul_activations();
  auto wanted = [&kt, act](const WeightMatrix& w) {
    if (w.rows == 0 || w.cols == 0 || !has_panel_layout(w)) return false;
    if (w.type == GgmlType::F16) return kt.gemm_panel_f16 != nullptr;
    // With int8 activations (--matmul-act int8) Q8_0 products take the integer path, which reads
    // the GGUF rows.
    return kt.gemm_panel_q8_0 != nullptr && act != MatmulActivations::Int8;
  };
  std::vector<WeightMatrix*> todo;
  int64_t bytes = 0;
  for (WeightMatrix* w : matrices) {
    if (!wanted(*w)) continue;
    todo.push_back(w);
    bytes += panel_bytes(*w);
  }
  if (todo.empty()) return;
  out.panel_memory = allocate_panel_memory(bytes);
  out.panel_bytes = bytes;
  auto* at = reinterpret_cast<uint8_t*>(out.panel_memory.get());
  for (WeightMatrix* w : todo) {
    pack_panels_into(*w, at, [&f](const void* p, size_t n) {
      f.release_pages(static_cast<const uint8_t*>(p), n);
    });
    w->panels = at;
    at += panel_bytes(*w);
  }
}

}  // namespace

ModelWeights ModelWeights::from_gguf(const gguf::File& f, const ModelConfig& c,
                                     MatmulActivations act) {
  ModelWeights w;
  w.tok_embd = matrix(f, "token_embd.weight", c.n_vocab, c.n_embd);
  w.output_norm = vector_f32(f, "output_norm.weight", c.n_embd);
  if (f.find_tensor("output.weight") != nullptr) {
    w.output = matrix(f, "output.weight", c.n_vocab, c.n_embd);
  } else {
    w.output = w.tok_embd;
    w.tied_output = true;
  }
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    l.attn_norm = vector_f32(f, p + "attn_norm.weight", c.n_embd);
    l.wq = matrix(f, p + "attn_q.weight", c.q_dim(), c.n_embd);
    l.wk = matrix(f, p + "attn_k.weight", c.kv_dim(), c.n_embd);
    l.wv = matrix(f, p + "attn_v.weight", c.kv_dim(), c.n_embd);
    l.wo = matrix(f, p + "attn_output.weight", c.n_embd, c.q_dim());
    if (c.qkv_bias) {
      l.bq = vector_f32(f, p + "attn_q.bias", c.q_dim());
      l.bk = vector_f32(f, p + "attn_k.bias", c.kv_dim());
      l.bv = vector_f32(f, p + "attn_v.bias", c.kv_dim());
    }
    l.ffn_norm = vector_f32(f, p + "ffn_norm.weight", c.n_embd);
    l.w_gate = matrix(f, p + "ffn_gate.weight", c.n_ff, c.n_embd);
    l.w_up = matrix(f, p + "ffn_up.weight", c.n_ff, c.n_embd);
    l.w_down = matrix(f, p + "ffn_down.weight", c.n_embd, c.n_ff);
  }
  std::vector<WeightMatrix*> matrices;
  for (LayerWeights& l : w.layers) {
    for (WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      matrices.push_back(m);
  }
  // With tied embeddings the output matrix is the embedding table, whose rows the embedding
  // lookups keep reading: a panel copy of it would sit in memory beside the file pages those
  // lookups fault back in (up to the whole table, with the kernel's fault-around), so the LM
  // head reads the GGUF rows instead.
  if (!w.tied_output) matrices.push_back(&w.output);
  add_panels(f, matrices, w, act);
  return w;
}

}  // namespace packinfer
