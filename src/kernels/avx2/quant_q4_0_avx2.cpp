// AVX2 Q4_0 kernels: 8 bytes widened to int32 give 8 low nibbles (elements j) and 8 high nibbles
// (elements j + 16) of one block.
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/quant_avx2_common.h"
#include "kernels/quant_blocks.h"

namespace packinfer {
using namespace avx2;

void dequant_q4_0_avx2(const void* src, float* dst, int64_t n) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
  const __m256i m4 = _mm256_set1_epi32(0xF), eight = _mm256_set1_epi32(8);
  for (int64_t i = 0; i < n / kQK4_0; ++i, dst += kQK4_0) {
    const __m256 d = _mm256_set1_ps(h2f(b[i].d));
    for (int g = 0; g < 2; ++g) {
      const __m256i v = u8x8(b[i].qs + 8 * g);
      const __m256i lo = _mm256_sub_epi32(_mm256_and_si256(v, m4), eight);
      const __m256i hi = _mm256_sub_epi32(_mm256_srli_epi32(v, 4), eight);
      _mm256_storeu_ps(dst + 8 * g, _mm256_mul_ps(to_ps(lo), d));
      _mm256_storeu_ps(dst + 16 + 8 * g, _mm256_mul_ps(to_ps(hi), d));
    }
  }
}

float dot_q4_0_avx2(const void* w, const float* x, int64_t n) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(w);
  const __m256i m4 = _mm256_set1_epi32(0xF), eight = _mm256_set1_epi32(8);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const int64_t nb = n / kQK4_0;
  for (int64_t i = 0; i < nb; ++i, x += kQK4_0) {
    const __m256i v0 = u8x8(b[i].qs), v1 = u8x8(b[i].qs + 8);
    const __m256i l0 = _mm256_sub_epi32(_mm256_and_si256(v0, m4), eight);
    const __m256i l1 = _mm256_sub_epi32(_mm256_and_si256(v1, m4), eight);
    const __m256i h0 = _mm256_sub_epi32(_mm256_srli_epi32(v0, 4), eight);
    const __m256i h1 = _mm256_sub_epi32(_mm256_srli_epi32(v1, 4), eight);
    __m256 p0 = _mm256_mul_ps(to_ps(l0), _mm256_loadu_ps(x + 0));
    __m256 p1 = _mm256_mul_ps(to_ps(l1), _mm256_loadu_ps(x + 8));
    p0 = _mm256_fmadd_ps(to_ps(h0), _mm256_loadu_ps(x + 16), p0);
    p1 = _mm256_fmadd_ps(to_ps(h1), _mm256_loadu_ps(x + 24), p1);
    const __m256 d = _mm256_set1_ps(h2f(b[i].d));
    if (i & 1) {
      acc1 = _mm256_fmadd_ps(d, _mm256_add_ps(p0, p1), acc1);
    } else {
      acc0 = _mm256_fmadd_ps(d, _mm256_add_ps(p0, p1), acc0);
    }
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

}  // namespace packinfer
