#pragma once
// Declarations of the per-type kernels that type_kernels.cpp puts into its tables.
// *_scalar are in type_kernels_scalar.cpp / quant_*_scalar.cpp, *_avx2 in *_avx2.cpp files.
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

}  // namespace packinfer
