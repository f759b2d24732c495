// AVX2 Q5_0 kernels: a block's 32 values are built as signed bytes q - 16 in one register (low
// nibbles, high nibbles, and the fifth bits of qh spread to one byte each), then widened to f32
// (dequant, dot) or multiplied with the int8 activations (dot_act).
#include <cstring>

#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/quant_avx2_common.h"
#include "kernels/quant_blocks.h"

namespace packinfer {
using namespace avx2;

namespace {
inline __m256 widen(__m256i q, int k) {
  const __m128i half = k < 2 ? _mm256_castsi256_si128(q) : _mm256_extracti128_si256(q, 1);
  return to_ps(_mm256_cvtepi8_epi32((k & 1) ? _mm_srli_si128(half, 8) : half));
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
}  // namespace

void dequant_q5_0_avx2(const void* src, float* dst, int64_t n) {
  const BlockQ5_0* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK5_0; ++i, dst += kQK5_0) {
    const __m256 d = _mm256_set1_ps(h2f(b[i].d));
    const __m256i q = q5_0_signed(b[i]);
    for (int k = 0; k < 4; ++k) _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(widen(q, k), d));
  }
}

float dot_q5_0_avx2(const void* w, const float* x, int64_t n) {
  const BlockQ5_0* b = static_cast<const BlockQ5_0*>(w);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK5_0; ++i, x += kQK5_0) {
    const __m256i q = q5_0_signed(b[i]);
    __m256 p0 = _mm256_mul_ps(widen(q, 0), _mm256_loadu_ps(x + 0));
    __m256 p1 = _mm256_mul_ps(widen(q, 1), _mm256_loadu_ps(x + 8));
    p0 = _mm256_fmadd_ps(widen(q, 2), _mm256_loadu_ps(x + 16), p0);
    p1 = _mm256_fmadd_ps(widen(q, 3), _mm256_loadu_ps(x + 24), p1);
    const __m256 d = _mm256_set1_ps(h2f(b[i].d));
    if (i & 1) {
      acc1 = _mm256_fmadd_ps(d, _mm256_add_ps(p0, p1), acc1);
    } else {
      acc0 = _mm256_fmadd_ps(d, _mm256_add_ps(p0, p1), acc0);
    }
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

float dot_act_q5_0_avx2(const void* w, const void* act, int64_t n) {
  const BlockQ5_0* b = static_cast<const BlockQ5_0*>(w);
  const ActQ8_0* a = static_cast<const ActQ8_0*>(act);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    const __m256i q = q5_0_signed(b[i]);
    // Signed x signed: |q| times x with q's sign.
    const __m256i p = _mm256_madd_epi16(
        _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(load256(a[i].qs), q)), ones);
    const __m256 s = _mm256_set1_ps(h2f(b[i].d) * a[i].d);
    if (i & 1) {
      acc1 = _mm256_fmadd_ps(s, to_ps(p), acc1);
    } else {
      acc0 = _mm256_fmadd_ps(s, to_ps(p), acc0);
    }
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

}  // namespace packinfer
