// Scalar reference for Q8_0 (blocks of 32 int8 with one f16 scale) and its quantizer.
#include <algorithm>
#include <cmath>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/quantize.h"
#include "kernels/scalar/quant_scalar_common.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {
namespace {
void dequant_block(const BlockQ8_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int i = 0; i < kQK8_0; ++i) y[i] = b.qs[i] * d;
}
}  // namespace

void dequant_q8_0_scalar(const void* src, float* dst, int64_t n) {
  dequant_rows_scalar<BlockQ8_0, kQK8_0, dequant_block>(src, dst, n);
}

float dot_q8_0_scalar(const void* w, const float* x, int64_t n) {
  return dot_rows_scalar<BlockQ8_0, kQK8_0, dequant_block>(w, x, n);
}

void quantize_row_q8_0(const float* x, void* dst, int64_t n) {
  BlockQ8_0* out = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float* xb = x + i * kQK8_0;
    float amax = 0;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    out[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) out[i].qs[j] = static_cast<int8_t>(std::lround(xb[j] * id));
  }
}

}  // namespace packinfer
