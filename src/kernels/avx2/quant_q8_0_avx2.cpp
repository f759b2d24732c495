// AVX2 Q8_0 kernels: sign-extend int8 to int32, convert, FMA against x; one scale per 32.
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/quant_avx2_common.h"
#include "kernels/quant_blocks.h"

namespace packinfer {
using namespace avx2;

void dequant_q8_0_avx2(const void* src, float* dst, int64_t n) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK8_0; ++i, dst += kQK8_0) {
    const __m256 d = _mm256_set1_ps(h2f(b[i].d));
    for (int k = 0; k < 4; ++k) {
      _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(to_ps(i8x8(b[i].qs + 8 * k)), d));
    }
  }
}

float dot_q8_0_avx2(const void* w, const float* x, int64_t n) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(w);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const int64_t nb = n / kQK8_0;
  for (int64_t i = 0; i < nb; ++i, x += kQK8_0) {
    __m256 p0 = _mm256_mul_ps(to_ps(i8x8(b[i].qs + 0)), _mm256_loadu_ps(x + 0));
    __m256 p1 = _mm256_mul_ps(to_ps(i8x8(b[i].qs + 8)), _mm256_loadu_ps(x + 8));
    p0 = _mm256_fmadd_ps(to_ps(i8x8(b[i].qs + 16)), _mm256_loadu_ps(x + 16), p0);
    p1 = _mm256_fmadd_ps(to_ps(i8x8(b[i].qs + 24)), _mm256_loadu_ps(x + 24), p1);
    const __m256 d = _mm256_set1_ps(h2f(b[i].d));
    // Two accumulators alternate so consecutive blocks do not wait on each other's FMA.
    if (i & 1) {
      acc1 = _mm256_fmadd_ps(d, _mm256_add_ps(p0, p1), acc1);
    } else {
      acc0 = _mm256_fmadd_ps(d, _mm256_add_ps(p0, p1), acc0);
    }
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

}  // namespace packinfer
