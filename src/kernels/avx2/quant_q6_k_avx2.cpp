// AVX2 Q6_K kernels. For each group of 8 positions l, three 8-byte loads (ql[l], ql[l+32],
// qh[l]) give 8 weights in each of four sub-blocks (l, l+32, l+64, l+96 of the half).
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/quant_avx2_common.h"
#include "kernels/quant_blocks.h"

namespace packinfer {
using namespace avx2;

namespace {
// d * scale per sub-block of 16, computed exactly as the scalar reference does.
inline void q6_scales(const BlockQ6_K& b, float ds[16]) {
  const __m256 d = _mm256_set1_ps(h2f(b.d));
  _mm256_store_ps(ds, _mm256_mul_ps(d, to_ps(i8x8(b.scales))));
  _mm256_store_ps(ds + 8, _mm256_mul_ps(d, to_ps(i8x8(b.scales + 8))));
}

// The four signed 6-bit values (q - 32) at positions l..l+7 (+0, +32, +64, +96) of a half.
inline void q6_values(const uint8_t* ql, const uint8_t* qh, __m256i q[4]) {
  const __m256i m4 = _mm256_set1_epi32(0xF), m30 = _mm256_set1_epi32(0x30);
  const __m256i off = _mm256_set1_epi32(32);
  const __m256i a = u8x8(ql), c = u8x8(ql + 32), h = u8x8(qh);
  q[0] = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi32(h, 4), m30));
  q[1] = _mm256_or_si256(_mm256_and_si256(c, m4), _mm256_and_si256(_mm256_slli_epi32(h, 2), m30));
  q[2] = _mm256_or_si256(_mm256_srli_epi32(a, 4), _mm256_and_si256(h, m30));
  q[3] = _mm256_or_si256(_mm256_srli_epi32(c, 4), _mm256_and_si256(_mm256_srli_epi32(h, 2), m30));
  for (int k = 0; k < 4; ++k) q[k] = _mm256_sub_epi32(q[k], off);
}
}  // namespace

void dequant_q6_k_avx2(const void* src, float* dst, int64_t n) {
  const BlockQ6_K* b = static_cast<const BlockQ6_K*>(src);
  alignas(32) float ds[16];
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    q6_scales(b[i], ds);
    for (int h = 0; h < 2; ++h) {
      for (int g = 0; g < 4; ++g) {
        __m256i q[4];
        q6_values(b[i].ql + 64 * h + 8 * g, b[i].qh + 32 * h + 8 * g, q);
        for (int k = 0; k < 4; ++k) {
          const __m256 d = _mm256_broadcast_ss(&ds[8 * h + 2 * k + g / 2]);
          _mm256_storeu_ps(dst + 128 * h + 32 * k + 8 * g, _mm256_mul_ps(d, to_ps(q[k])));
        }
      }
    }
  }
}

float dot_q6_k_avx2(const void* w, const float* x, int64_t n) {
  const BlockQ6_K* b = static_cast<const BlockQ6_K*>(w);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  alignas(32) float ds[16];
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    q6_scales(b[i], ds);
    for (int h = 0; h < 2; ++h) {
      for (int t = 0; t < 2; ++t) {  // t: first or second sub-block of 16 in each run of 32
        __m256 p[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
        for (int g = 2 * t; g < 2 * t + 2; ++g) {
          __m256i q[4];
          q6_values(b[i].ql + 64 * h + 8 * g, b[i].qh + 32 * h + 8 * g, q);
          for (int k = 0; k < 4; ++k) {
            p[k] =
                _mm256_fmadd_ps(to_ps(q[k]), _mm256_loadu_ps(x + 128 * h + 32 * k + 8 * g), p[k]);
          }
        }
        for (int k = 0; k < 4; ++k) {
          acc[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(&ds[8 * h + 2 * k + t]), p[k], acc[k]);
        }
      }
    }
  }
  return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

}  // namespace packinfer
