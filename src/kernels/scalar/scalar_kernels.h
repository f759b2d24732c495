#pragma once
// The scalar level: the reference definition of every kernel (and what every SIMD level is tested
// against), defined in src/kernels/scalar/ and put into the table by table_scalar.cpp.
#include <cstdint>

#include "kernels/attention.h"
#include "kernels/elementwise.h"

namespace packinfer {

// GEMM register tile 6x16 (kernel_table.h, GemmKernel).
void gemm_micro_6x16_scalar(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                            int64_t ldc, bool accumulate);
void gemm_pack_b16_scalar(const float* const* rows, int64_t kc, float* dst);

// Panel GEMM tiles over F16 and Q8_0 panels (kernel_table.h, PanelF16Fn / PanelQ8Fn): the
// references only.
void gemm_panel_f16_scalar(const uint16_t* panel, int64_t stride, int64_t kc, const float* x,
                           int64_t ldx, int rows, float* y, int64_t ldy, int cols, bool accumulate);
void gemm_panel_q8_0_scalar(const uint8_t* panel, int64_t kc, const float* x, int64_t ldx, int rows,
                            float* y, int64_t ldy, int cols, bool accumulate);

// Per weight type (TypeKernels): the unquantized types, then the quantized ones (layouts:
// quant_blocks.h). The scalar dots accumulate in double.
void dequant_f32_scalar(const void* src, float* dst, int64_t n);
float dot_f32_scalar(const void* w, const float* x, int64_t n);
void dequant_f16_scalar(const void* src, float* dst, int64_t n);
float dot_f16_scalar(const void* w, const float* x, int64_t n);
void dequant_bf16_scalar(const void* src, float* dst, int64_t n);
float dot_bf16_scalar(const void* w, const float* x, int64_t n);

#define PACKINFER_DECLARE_QUANT_SCALAR(t)                            \
  void dequant_##t##_scalar(const void* src, float* dst, int64_t n); \
  float dot_##t##_scalar(const void* w, const float* x, int64_t n);  \
  float dot_act_##t##_scalar(const void* w, const void* act, int64_t n);
PACKINFER_DECLARE_QUANT_SCALAR(q8_0)
PACKINFER_DECLARE_QUANT_SCALAR(q4_0)
PACKINFER_DECLARE_QUANT_SCALAR(q5_0)
PACKINFER_DECLARE_QUANT_SCALAR(q2_k)
PACKINFER_DECLARE_QUANT_SCALAR(q4_k)
PACKINFER_DECLARE_QUANT_SCALAR(q5_k)
PACKINFER_DECLARE_QUANT_SCALAR(q6_k)
#undef PACKINFER_DECLARE_QUANT_SCALAR

// Activation quantizers of the integer dot path (TypeKernels::quantize_act), shared by every
// level so all of them see the same act bytes.
int64_t act_bytes_q8_0(int64_t n);  // n/32 ActQ8_0 blocks
void quantize_act_q8_0(const float* x, void* act, int64_t n);
int64_t act_bytes_q8_0s(int64_t n);  // n/32 ActQ8_0S blocks
void quantize_act_q8_0s(const float* x, void* act, int64_t n);
int64_t act_bytes_q8k(int64_t n);  // n/256 ActQ8K blocks
void quantize_act_q8k(const float* x, void* act, int64_t n);

// The int8 GEMM (kernel_table.h GemmI8MicroFn, layouts in gemm_int8_layout.h): the activation
// quantizer (n/32 ActU8 blocks) and the panel packers, shared by every level, and the reference
// tile.
void quantize_act_u8(const float* x, void* act, int64_t n);
void pack_i8_q8_0(const void* const* rows, int n, int64_t nblocks, void* panel);
void pack_i8_q4_0(const void* const* rows, int n, int64_t nblocks, void* panel);
void pack_i8_q5_0(const void* const* rows, int n, int64_t nblocks, void* panel);
void pack_i8_q4_k(const void* const* rows, int n, int64_t nblocks, void* panel);
void pack_i8_q5_k(const void* const* rows, int n, int64_t nblocks, void* panel);
void gemm_i8_micro_scalar(int64_t nblocks, const void* act, int64_t act_stride, int rows,
                          const void* panel, float* y, int64_t ldy, int cols);

// Same plan as the SIMD attention (online softmax, one KV block at a time, all heads of a KV head
// together) so it is a readable model of it; any head_dim.
void attention_scalar(const AttentionShape& shape, const KvLayerView& kv,
                      const AttentionItem& item);

// The float operation order follows llama.cpp (ggml rms_norm, rope cache, silu).
void rms_norm_scalar(const float* x, const float* w, float* y, int64_t n_rows, int64_t n,
                     float eps);
void rope_scalar(float* x, int64_t n_tokens, int64_t stride, int32_t n_heads, int32_t head_dim,
                 const int32_t* pos, float freq_base, RopeStyle style);
void swiglu_scalar(const float* gate, const float* up, float* out, int64_t n);
void add_inplace_scalar(float* y, const float* x, int64_t n);

}  // namespace packinfer
