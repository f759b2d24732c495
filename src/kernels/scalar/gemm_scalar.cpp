// Scalar micro-kernel and B-panel packer of the blocked GEMM (gemm.cpp): the reference the SIMD
// tiles are tested against, with the same 6x16 tile as the AVX2 one.
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {
namespace {
constexpr int kMR = 6;
constexpr int kNR = 16;
}  // namespace

void gemm_micro_6x16_scalar(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                            int64_t ldc, bool accumulate) {
  float acc[kMR][kNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < kMR; ++i) {
      const float av = a[i * lda + k];
      for (int j = 0; j < kNR; ++j) acc[i][j] += av * b[k * kNR + j];
    }
  }
  for (int i = 0; i < kMR; ++i) {
    for (int j = 0; j < kNR; ++j)
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
  }
}

void gemm_pack_b16_scalar(const float* const* rows, int64_t kc, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    for (int j = 0; j < kNR; ++j) dst[k * kNR + j] = rows[j][k];
  }
}

}  // namespace packinfer
