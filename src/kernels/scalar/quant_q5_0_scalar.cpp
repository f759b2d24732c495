// Scalar reference for Q5_0 (blocks of 32 5-bit values with one f16 scale): the low 4 bits as in
// Q4_0 (byte j: element j low nibble, element j + 16 high nibble), the fifth bit of element j is
// bit j of the 32-bit qh; w = (q - 16) * d.
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/scalar/quant_scalar_common.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {
namespace {
void dequant_block(const BlockQ5_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < kQK5_0 / 2; ++j) {
    const int lo = (b.qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4);
    const int hi = (b.qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
    y[j] = static_cast<float>(lo - 16) * d;
    y[j + kQK5_0 / 2] = static_cast<float>(hi - 16) * d;
  }
}
}  // namespace

void dequant_q5_0_scalar(const void* src, float* dst, int64_t n) {
  dequant_rows_scalar<BlockQ5_0, kQK5_0, dequant_block>(src, dst, n);
}

float dot_q5_0_scalar(const void* w, const float* x, int64_t n) {
  return dot_rows_scalar<BlockQ5_0, kQK5_0, dequant_block>(w, x, n);
}

}  // namespace packinfer
