// Scalar references of the panel GEMM tiles (kernel_table.h, PanelF16Fn and PanelQ8Fn): what the
// SIMD tiles are tested against. No level's table takes them (the levels without a SIMD tile keep
// their own F16 and Q8_0 paths, which are faster than these loops); tests call them directly.
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/scalar/scalar_kernels.h"
#include "kernels/weight_panels.h"

namespace packinfer {

void gemm_panel_f16_scalar(const uint16_t* panel, int64_t stride, int64_t kc, const float* x,
                           int64_t ldx, int rows, float* y, int64_t ldy, int cols,
                           bool accumulate) {
  constexpr int64_t kWidth = kPanelWidth;
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      const uint16_t* w = panel + (j / kWidth) * stride + j % kWidth;
      float acc = 0.f;
      for (int64_t k = 0; k < kc; ++k) acc += x[i * ldx + k] * fp16_to_fp32(w[k * kWidth]);
      y[i * ldy + j] = accumulate ? y[i * ldy + j] + acc : acc;
    }
  }
}

void gemm_panel_q8_0_scalar(const uint8_t* panel, int64_t kc, const float* x, int64_t ldx, int rows,
                            float* y, int64_t ldy, int cols, bool accumulate) {
  constexpr int64_t kWidth = kPanelWidth, kBlockBytes = kQ8PanelBlockBytes;
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      float acc = 0.f;
      for (int64_t k = 0; k < kc; ++k) {
        const uint8_t* blk = panel + k / 32 * kBlockBytes;
        uint16_t d;
        std::memcpy(&d, blk + 2 * j, 2);
        const auto q = static_cast<int8_t>(blk[64 + (k % 32) * kWidth + j]);
        acc += x[i * ldx + k] * (static_cast<float>(q) * fp16_to_fp32(d));
      }
      y[i * ldy + j] = accumulate ? y[i * ldy + j] + acc : acc;
    }
  }
}

}  // namespace packinfer
