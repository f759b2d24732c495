// AVX2 Q2_K kernels. Each 16-byte run of qs holds four sub-blocks of 16 weights (one per 2-bit
// field), so the bytes are widened once and shifted four ways.
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/quant_avx2_common.h"
#include "kernels/quant_blocks.h"

namespace packinfer {
using namespace avx2;

namespace {
// Per-sub-block d*scale and dmin*min, computed exactly as the scalar reference does.
struct Q2Scales {
  alignas(32) float dl[16];
  alignas(32) float ml[16];
};

inline void q2_scales(const BlockQ2_K& b, Q2Scales& s) {
  const float d = h2f(b.d), dmin = h2f(b.dmin);
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
  const __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0xF));
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0xF));
  const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(dmin);
  _mm256_store_ps(s.dl, _mm256_mul_ps(vd, to_ps(_mm256_cvtepu8_epi32(lo))));
  _mm256_store_ps(s.dl + 8, _mm256_mul_ps(vd, to_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)))));
  _mm256_store_ps(s.ml, _mm256_mul_ps(vm, to_ps(_mm256_cvtepu8_epi32(hi))));
  _mm256_store_ps(s.ml + 8, _mm256_mul_ps(vm, to_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)))));
}
}  // namespace

void dequant_q2_k_avx2(const void* src, float* dst, int64_t n) {
  const BlockQ2_K* b = static_cast<const BlockQ2_K*>(src);
  const __m256i m3 = _mm256_set1_epi32(3);
  Q2Scales s;
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    q2_scales(b[i], s);
    for (int h = 0; h < 2; ++h) {
      for (int t = 0; t < 2; ++t) {
        const uint8_t* q = b[i].qs + 32 * h + 16 * t;
        __m256i v0 = u8x8(q), v1 = u8x8(q + 8);
        for (int sh = 0; sh < 4; ++sh) {
          const int is = 8 * h + 2 * sh + t;
          const __m256 dl = _mm256_broadcast_ss(&s.dl[is]), ml = _mm256_broadcast_ss(&s.ml[is]);
          float* y = dst + 128 * h + 32 * sh + 16 * t;
          const __m256 q0 = to_ps(_mm256_and_si256(v0, m3)), q1 = to_ps(_mm256_and_si256(v1, m3));
          _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(dl, q0), ml));
          _mm256_storeu_ps(y + 8, _mm256_sub_ps(_mm256_mul_ps(dl, q1), ml));
          v0 = _mm256_srli_epi32(v0, 2);
          v1 = _mm256_srli_epi32(v1, 2);
        }
      }
    }
  }
}

float dot_q2_k_avx2(const void* w, const float* x, int64_t n) {
  const BlockQ2_K* b = static_cast<const BlockQ2_K*>(w);
  const __m256i m3 = _mm256_set1_epi32(3);
  __m256 acc = _mm256_setzero_ps(), macc = _mm256_setzero_ps();
  Q2Scales s;
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    q2_scales(b[i], s);
    for (int h = 0; h < 2; ++h) {
      for (int t = 0; t < 2; ++t) {
        const uint8_t* q = b[i].qs + 32 * h + 16 * t;
        __m256i v0 = u8x8(q), v1 = u8x8(q + 8);
        for (int sh = 0; sh < 4; ++sh) {
          const int is = 8 * h + 2 * sh + t;
          const float* xs = x + 128 * h + 32 * sh + 16 * t;
          const __m256 x0 = _mm256_loadu_ps(xs), x1 = _mm256_loadu_ps(xs + 8);
          __m256 p = _mm256_mul_ps(to_ps(_mm256_and_si256(v0, m3)), x0);
          p = _mm256_fmadd_ps(to_ps(_mm256_and_si256(v1, m3)), x1, p);
          // sum(w*x) over the sub-block = dl * sum(q*x) - ml * sum(x).
          acc = _mm256_fmadd_ps(_mm256_broadcast_ss(&s.dl[is]), p, acc);
          macc = _mm256_fmadd_ps(_mm256_broadcast_ss(&s.ml[is]), _mm256_add_ps(x0, x1), macc);
          v0 = _mm256_srli_epi32(v0, 2);
          v1 = _mm256_srli_epi32(v1, 2);
        }
      }
    }
  }
  return hsum(_mm256_sub_ps(acc, macc));
}

}  // namespace packinfer
