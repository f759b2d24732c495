// Scalar reference kernels for the unquantized weight types (F32, F16, BF16).
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {

void dequant_f32_scalar(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

float dot_f32_scalar(const void* w, const float* x, int64_t n) {
  const float* a = static_cast<const float*>(w);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * x[i];
  return static_cast<float>(sum);
}

void dequant_f16_scalar(const void* src, float* dst, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
}

float dot_f16_scalar(const void* w, const float* x, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(w);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(fp16_to_fp32(h[i])) * x[i];
  return static_cast<float>(sum);
}

void dequant_bf16_scalar(const void* src, float* dst, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
}

float dot_bf16_scalar(const void* w, const float* x, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(w);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(bf16_to_fp32(h[i])) * x[i];
  return static_cast<float>(sum);
}

}  // namespace packinfer
