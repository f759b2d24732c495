// Scalar reference for Q2_K: the definition of the layout documented on BlockQ2_K.
#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/scalar/quant_scalar_common.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {
namespace {
void dequant_block(const BlockQ2_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  const float dmin = fp16_to_fp32(b.dmin);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* q = b.qs + 32 * h;
    for (int s = 0; s < 4; ++s) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t sc = b.scales[8 * h + 2 * s + l / 16];
        const float dl = d * (sc & 0xF);
        const float ml = dmin * (sc >> 4);
        y[128 * h + 32 * s + l] = dl * ((q[l] >> (2 * s)) & 3) - ml;
      }
    }
  }
}
}  // namespace

void dequant_q2_k_scalar(const void* src, float* dst, int64_t n) {
  dequant_rows_scalar<BlockQ2_K, kQK_K, dequant_block>(src, dst, n);
}

float dot_q2_k_scalar(const void* w, const float* x, int64_t n) {
  return dot_rows_scalar<BlockQ2_K, kQK_K, dequant_block>(w, x, n);
}

}  // namespace packinfer
