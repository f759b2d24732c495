// AVX2 Q5_K kernels: the Q4_K scheme plus the fifth bit from qh (bit 2p for the low-nibble
// sub-block, bit 2p+1 for the high-nibble one), moved to bit 4 with a shift and a mask.
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/quant_avx2_common.h"
#include "kernels/quant_blocks.h"

namespace packinfer {
using namespace avx2;

namespace {
struct KScales {
  alignas(32) float dl[8];
  alignas(32) float ml[8];
};

inline void k_scales(uint16_t d, uint16_t dmin, const uint8_t* packed, KScales& s) {
  uint8_t sc[8], m[8];
  k4_unpack_scales(packed, sc, m);
  _mm256_store_ps(s.dl, scale_u8(h2f(d), sc));
  _mm256_store_ps(s.ml, scale_u8(h2f(dmin), m));
}

// The 5-bit values of 8 weights of sub-block 2p (lo) and 2p+1 (hi); qh already shifted right
// by 2p.
inline void q5_values(__m256i v, __m256i h, __m256i& lo, __m256i& hi) {
  const __m256i m4 = _mm256_set1_epi32(0xF), b4 = _mm256_set1_epi32(0x10);
  lo = _mm256_or_si256(_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_slli_epi32(h, 4), b4));
  hi = _mm256_or_si256(_mm256_srli_epi32(v, 4), _mm256_and_si256(_mm256_slli_epi32(h, 3), b4));
}
}  // namespace

void dequant_q5_k_avx2(const void* src, float* dst, int64_t n) {
  const BlockQ5_K* b = static_cast<const BlockQ5_K*>(src);
  KScales s;
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    k_scales(b[i].d, b[i].dmin, b[i].scales, s);
    __m256i qh[4];
    for (int g = 0; g < 4; ++g) qh[g] = u8x8(b[i].qh + 8 * g);
    for (int p = 0; p < 4; ++p) {
      const __m256 d1 = _mm256_broadcast_ss(&s.dl[2 * p]), m1 = _mm256_broadcast_ss(&s.ml[2 * p]);
      const __m256 d2 = _mm256_broadcast_ss(&s.dl[2 * p + 1]);
      const __m256 m2 = _mm256_broadcast_ss(&s.ml[2 * p + 1]);
      for (int g = 0; g < 4; ++g) {
        __m256i lo, hi;
        q5_values(u8x8(b[i].qs + 32 * p + 8 * g), qh[g], lo, hi);
        qh[g] = _mm256_srli_epi32(qh[g], 2);
        _mm256_storeu_ps(dst + 64 * p + 8 * g, _mm256_sub_ps(_mm256_mul_ps(d1, to_ps(lo)), m1));
        _mm256_storeu_ps(dst + 64 * p + 32 + 8 * g,
                         _mm256_sub_ps(_mm256_mul_ps(d2, to_ps(hi)), m2));
      }
    }
  }
}

float dot_q5_k_avx2(const void* w, const float* x, int64_t n) {
  const BlockQ5_K* b = static_cast<const BlockQ5_K*>(w);
  __m256 acc = _mm256_setzero_ps(), macc = _mm256_setzero_ps();
  KScales s;
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    k_scales(b[i].d, b[i].dmin, b[i].scales, s);
    __m256i qh[4];
    for (int g = 0; g < 4; ++g) qh[g] = u8x8(b[i].qh + 8 * g);
    for (int p = 0; p < 4; ++p) {
      __m256 p1 = _mm256_setzero_ps(), p2 = _mm256_setzero_ps();
      __m256 s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps();
      for (int g = 0; g < 4; ++g) {
        __m256i lo, hi;
        q5_values(u8x8(b[i].qs + 32 * p + 8 * g), qh[g], lo, hi);
        qh[g] = _mm256_srli_epi32(qh[g], 2);
        const __m256 x1 = _mm256_loadu_ps(x + 64 * p + 8 * g);
        const __m256 x2 = _mm256_loadu_ps(x + 64 * p + 32 + 8 * g);
        p1 = _mm256_fmadd_ps(to_ps(lo), x1, p1);
        p2 = _mm256_fmadd_ps(to_ps(hi), x2, p2);
        s1 = _mm256_add_ps(s1, x1);
        s2 = _mm256_add_ps(s2, x2);
      }
      acc = _mm256_fmadd_ps(_mm256_broadcast_ss(&s.dl[2 * p]), p1, acc);
      acc = _mm256_fmadd_ps(_mm256_broadcast_ss(&s.dl[2 * p + 1]), p2, acc);
      macc = _mm256_fmadd_ps(_mm256_broadcast_ss(&s.ml[2 * p]), s1, macc);
      macc = _mm256_fmadd_ps(_mm256_broadcast_ss(&s.ml[2 * p + 1]), s2, macc);
    }
  }
  return hsum(_mm256_sub_ps(acc, macc));
}

}  // namespace packinfer
