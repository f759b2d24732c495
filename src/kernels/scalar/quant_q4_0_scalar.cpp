// Scalar reference for Q4_0 (blocks of 32 4-bit values with one f16 scale) and its quantizer.
#include <algorithm>
#include <cmath>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/quantize.h"
#include "kernels/scalar/quant_scalar_common.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {
namespace {
void dequant_block(const BlockQ4_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < kQK4_0 / 2; ++j) {
    y[j] = ((b.qs[j] & 0xF) - 8) * d;
    y[j + kQK4_0 / 2] = ((b.qs[j] >> 4) - 8) * d;
  }
}
}  // namespace

void dequant_q4_0_scalar(const void* src, float* dst, int64_t n) {
  dequant_rows_scalar<BlockQ4_0, kQK4_0, dequant_block>(src, dst, n);
}

float dot_q4_0_scalar(const void* w, const float* x, int64_t n) {
  return dot_rows_scalar<BlockQ4_0, kQK4_0, dequant_block>(w, x, n);
}

// As ggml: the value of largest magnitude maps to -8 exactly (keeping its sign), so the full
// range -8..7 is used on the side where it matters most.
void quantize_row_q4_0(const float* x, void* dst, int64_t n) {
  BlockQ4_0* out = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* xb = x + i * kQK4_0;
    float amax = 0, vmax = 0;
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(xb[j]) > amax) {
        amax = std::fabs(xb[j]);
        vmax = xb[j];
      }
    }
    const float d = vmax / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    out[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int q0 = std::min(15, static_cast<int>(xb[j] * id + 8.5f));
      const int q1 = std::min(15, static_cast<int>(xb[j + kQK4_0 / 2] * id + 8.5f));
      out[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

}  // namespace packinfer
