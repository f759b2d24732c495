#pragma once
// Per weight type: convert a row to f32, and dot a weight row with an f32 vector. Every type has
// a scalar reference (the definition of the format, used by tests) and, where it pays, faster
// versions in the tables of higher instruction-set levels (kernel_table.h). The GEMM packs weight
// panels with `dequant`; the decode GEMV uses `dot`.
#include <cstdint>

#include "gguf/ggml_types.h"

namespace packinfer {

struct TypeKernels {
  // n must be a multiple of the type's block size.
  void (*dequant)(const void* src, float* dst, int64_t n) = nullptr;
  float (*dot)(const void* w_row, const float* x, int64_t n) = nullptr;

  // Optional integer path for the decode GEMV (all three nullptr when the type has none). Quantize
  // x once per matrix-vector product with quantize_act into a buffer of act_bytes(n) bytes
  // (4-byte aligned; the buffer can be shared by all threads and rows), then call
  // dot_act(w_row, act, n) for every row. As in llama.cpp, x is rounded to 8 bits per block (of 32
  // for Q8_0/Q4_0, 256 for the K-quants), so the result differs from dot() by at most
  // sum |w_i| * d_x / 2, typically ~0.3% of sum |w*x|; in exchange the weights are unpacked to
  // bytes and multiplied with integer dot products, 1.4x (Q8_0) to 3x (Q6_K) faster than dot()
  // (see bench/bench_type_kernels.cpp). The scalar set has a (slow) reference dot_act too.
  int64_t (*act_bytes)(int64_t n) = nullptr;
  void (*quantize_act)(const float* x, void* act, int64_t n) = nullptr;
  float (*dot_act)(const void* w_row, const void* act, int64_t n) = nullptr;

  // Optional: unpacks `rows` (<= 16) weight rows, each `nblocks` blocks of 32 from its start, into
  // the int8 GEMM's panel (gemm_int8_layout.h; rows past `rows` are zero). Types without it run
  // prefill on the f32 GEMM.
  void (*pack_i8)(const void* const* rows, int rows_count, int64_t nblocks, void* panel) = nullptr;
};

// Kernels for weight type t at the active level (active_kernels().type(t)); nullptr when
// packinfer cannot compute with this type.
const TypeKernels* type_kernels(GgmlType t);

// True if matrices of this type can be used as model weights. Model loading asks this first, so
// it is also where the instruction-set level is chosen (and an invalid PACKINFER_ISA reported).
bool is_supported_weight_type(GgmlType t);

// Convenience wrappers over type_kernels(t); throw packinfer::Error for unsupported types.
void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n);
float vec_dot(GgmlType t, const void* w_row, const float* x, int64_t n);

}  // namespace packinfer
