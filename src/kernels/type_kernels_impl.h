#pragma once
// Declarations of the per-type kernels that type_kernels.cpp puts into its tables.
// *_scalar are in float_types_scalar.cpp / quant_*_scalar.cpp, *_avx2 in *_avx2.cpp files.
#include <cstdint>

namespace packinfer {

void dequant_f32_scalar(const void* src, float* dst, int64_t n);
float dot_f32_scalar(const void* w, const float* x, int64_t n);
void dequant_f16_scalar(const void* src, float* dst, int64_t n);
float dot_f16_scalar(const void* w, const float* x, int64_t n);
void dequant_bf16_scalar(const void* src, float* dst, int64_t n);
float dot_bf16_scalar(const void* w, const float* x, int64_t n);

float dot_f32_avx2(const void* w, const float* x, int64_t n);
void dequant_f16_avx2(const void* src, float* dst, int64_t n);
float dot_f16_avx2(const void* w, const float* x, int64_t n);
void dequant_bf16_avx2(const void* src, float* dst, int64_t n);
float dot_bf16_avx2(const void* w, const float* x, int64_t n);

// Quantized types (quant_<type>_scalar.cpp / quant_<type>_avx2.cpp). Layouts: quant_blocks.h.
// dot_act_* is the integer path (TypeKernels::dot_act): quant_act_scalar.cpp (reference, with the
// activation quantizers of quant_act.h) and quant_int8_avx2.cpp.
#define PACKINFER_DECLARE_QUANT_KERNELS(t)                               \
  void dequant_##t##_scalar(const void* src, float* dst, int64_t n);     \
  float dot_##t##_scalar(const void* w, const float* x, int64_t n);      \
  void dequant_##t##_avx2(const void* src, float* dst, int64_t n);       \
  float dot_##t##_avx2(const void* w, const float* x, int64_t n);        \
  float dot_act_##t##_scalar(const void* w, const void* act, int64_t n); \
  float dot_act_##t##_avx2(const void* w, const void* act, int64_t n);
PACKINFER_DECLARE_QUANT_KERNELS(q8_0)
PACKINFER_DECLARE_QUANT_KERNELS(q4_0)
PACKINFER_DECLARE_QUANT_KERNELS(q2_k)
PACKINFER_DECLARE_QUANT_KERNELS(q4_k)
PACKINFER_DECLARE_QUANT_KERNELS(q5_k)
PACKINFER_DECLARE_QUANT_KERNELS(q6_k)
#undef PACKINFER_DECLARE_QUANT_KERNELS

}  // namespace packinfer
