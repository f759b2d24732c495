// Scalar reference for Q6_K: the definition of the layout documented on BlockQ6_K.
#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/scalar/quant_scalar_common.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {
namespace {
void dequant_block(const BlockQ6_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    const int8_t* sc = b.scales + 8 * h;
    float* yh = y + 128 * h;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      yh[l] = d * sc[is + 0] * q1;
      yh[l + 32] = d * sc[is + 2] * q2;
      yh[l + 64] = d * sc[is + 4] * q3;
      yh[l + 96] = d * sc[is + 6] * q4;
    }
  }
}
}  // namespace

void dequant_q6_k_scalar(const void* src, float* dst, int64_t n) {
  dequant_rows_scalar<BlockQ6_K, kQK_K, dequant_block>(src, dst, n);
}

float dot_q6_k_scalar(const void* w, const float* x, int64_t n) {
  return dot_rows_scalar<BlockQ6_K, kQK_K, dequant_block>(w, x, n);
}

}  // namespace packinfer
