#pragma once
// The avx2 level (AVX2 + FMA + F16C): kernels defined in src/kernels/avx2/, compiled with
// -mavx2 -mfma -mf16c, put into the level's table by table_avx2.cpp. Raw pointers only (see
// matmul_internal.h). Entries not listed here are the scalar ones.
#include <cstdint>

#include "kernels/attention.h"
#include "kernels/elementwise.h"

namespace packinfer {

// GEMM register tile 6x16 (kernel_table.h, GemmKernel).
void gemm_micro_6x16_avx2(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                          int64_t ldc, bool accumulate);
void gemm_pack_b16_avx2(const float* const* rows, int64_t kc, float* dst);

// Decode GEMV tiles (kernel_table.h, GemvF32Fn / GemvF16Fn).
void gemv_f32_avx2(const float* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                   int64_t M, int64_t K, float* y, int64_t ldy);
void gemv_f16_avx2(const uint16_t* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                   int64_t M, int64_t K, float* y, int64_t ldy);

// Per weight type (TypeKernels). F32 rows are dequantized by the scalar memcpy.
float dot_f32_avx2(const void* w, const float* x, int64_t n);
void dequant_f16_avx2(const void* src, float* dst, int64_t n);
float dot_f16_avx2(const void* w, const float* x, int64_t n);
void dequant_bf16_avx2(const void* src, float* dst, int64_t n);
float dot_bf16_avx2(const void* w, const float* x, int64_t n);

// Quantized types: quant_<type>_avx2.cpp; dot_act_* (the integer path) in quant_int8_avx2.cpp.
#define PACKINFER_DECLARE_QUANT_AVX2(t)                            \
  void dequant_##t##_avx2(const void* src, float* dst, int64_t n); \
  float dot_##t##_avx2(const void* w, const float* x, int64_t n);  \
  float dot_act_##t##_avx2(const void* w, const void* act, int64_t n);
PACKINFER_DECLARE_QUANT_AVX2(q8_0)
PACKINFER_DECLARE_QUANT_AVX2(q4_0)
PACKINFER_DECLARE_QUANT_AVX2(q5_0)
PACKINFER_DECLARE_QUANT_AVX2(q2_k)
PACKINFER_DECLARE_QUANT_AVX2(q4_k)
PACKINFER_DECLARE_QUANT_AVX2(q5_k)
PACKINFER_DECLARE_QUANT_AVX2(q6_k)
#undef PACKINFER_DECLARE_QUANT_AVX2

// Handles head_dim % 8 == 0 and head_dim <= kAttentionMaxHeadDimAvx2 (the table says so; other
// shapes run the scalar kernel).
constexpr int32_t kAttentionMaxHeadDimAvx2 = 256;
void attention_avx2(const AttentionShape& shape, const KvLayerView& kv, const AttentionItem& item);

// rope_avx2 matches rope_scalar bit for bit (same float operations, no FMA; heads above
// kRopeMaxHeadDimAvx2 run rope_scalar itself); rms_norm_avx2
// differs only in the order of its double sum; swiglu_avx2 uses a polynomial exp (relative error
// < 1e-6, see exp_avx2.h).
void rms_norm_avx2(const float* x, const float* w, float* y, int64_t n_rows, int64_t n, float eps);
constexpr int32_t kRopeMaxHeadDimAvx2 = 1024;
void rope_avx2(float* x, int64_t n_tokens, int64_t stride, int32_t n_heads, int32_t head_dim,
               const int32_t* pos, float freq_base, RopeStyle style);
void swiglu_avx2(const float* gate, const float* up, float* out, int64_t n);
void add_inplace_avx2(float* y, const float* x, int64_t n);

}  // namespace packinfer
