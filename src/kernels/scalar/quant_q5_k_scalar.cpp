// Scalar reference for Q5_K: the definition of the layout documented on BlockQ5_K.
#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/scalar/quant_scalar_common.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {
namespace {
void dequant_block(const BlockQ5_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  const float dmin = fp16_to_fp32(b.dmin);
  for (int p = 0; p < 4; ++p) {
    uint8_t sc1, m1, sc2, m2;
    k4_scale_min(2 * p, b.scales, &sc1, &m1);
    k4_scale_min(2 * p + 1, b.scales, &sc2, &m2);
    const float d1 = d * sc1, mm1 = dmin * m1;
    const float d2 = d * sc2, mm2 = dmin * m2;
    const uint8_t* q = b.qs + 32 * p;
    for (int l = 0; l < 32; ++l) {
      const int lo = (q[l] & 0xF) | (((b.qh[l] >> (2 * p)) & 1) << 4);
      const int hi = (q[l] >> 4) | (((b.qh[l] >> (2 * p + 1)) & 1) << 4);
      y[64 * p + l] = d1 * lo - mm1;
      y[64 * p + 32 + l] = d2 * hi - mm2;
    }
  }
}
}  // namespace

void dequant_q5_k_scalar(const void* src, float* dst, int64_t n) {
  dequant_rows_scalar<BlockQ5_K, kQK_K, dequant_block>(src, dst, n);
}

float dot_q5_k_scalar(const void* w, const float* x, int64_t n) {
  return dot_rows_scalar<BlockQ5_K, kQK_K, dequant_block>(w, x, n);
}

}  // namespace packinfer
