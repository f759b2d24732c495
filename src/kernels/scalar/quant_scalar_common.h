#pragma once
// Shared shape of the scalar reference dots: dequantize one block, accumulate in double. Slow on
// purpose; these define the formats and are what the AVX2 kernels are tested against.
#include <cstdint>

namespace packinfer {

template <typename Block, int kBlockElems, void (*DequantBlock)(const Block&, float*)>
inline void dequant_rows_scalar(const void* src, float* dst, int64_t n) {
  const Block* b = static_cast<const Block*>(src);
  for (int64_t i = 0; i < n / kBlockElems; ++i) DequantBlock(b[i], dst + i * kBlockElems);
}

template <typename Block, int kBlockElems, void (*DequantBlock)(const Block&, float*)>
inline float dot_rows_scalar(const void* w, const float* x, int64_t n) {
  const Block* b = static_cast<const Block*>(w);
  double sum = 0;
  float tmp[kBlockElems];
  for (int64_t i = 0; i < n / kBlockElems; ++i) {
    DequantBlock(b[i], tmp);
    const float* xb = x + i * kBlockElems;
    for (int k = 0; k < kBlockElems; ++k) sum += static_cast<double>(tmp[k]) * xb[k];
  }
  return static_cast<float>(sum);
}

}  // namespace packinfer
