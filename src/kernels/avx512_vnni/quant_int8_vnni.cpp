// AVX-512 VNNI integer dots for the 32-element block types (Q8_0, Q4_0, Q5_0) against int8
// activations (ActQ8_0 / ActQ8_0S). Compiled with the avx512_vnni flags; reached only through
// kernels_for(Isa::Avx512Vnni) and above.
#include <immintrin.h>

// GCC 12's AVX-512 extracts and conversions start from _mm512_undefined_*(), which
// -Wmaybe-uninitialized (and, inlined here, -Wuninitialized) reports as used uninitialized (a
// false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/avx2/quant_avx2_common.h"
#include "kernels/avx512_vnni/avx512_vnni_kernels.h"
#include "kernels/quant_blocks.h"

namespace packinfer {
using namespace avx2;

namespace {
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Two 32-byte runs as one zmm (lo in the lower half).
inline __m512i join(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// sum of w * x per group of 4 bytes, both signed (x never -128: the quantizer keeps |q| <= 127).
// VPDPBUSD takes one unsigned operand, so |w| goes unsigned and x takes w's sign.
inline __m512i dot_s8_s8_512(__m512i w, __m512i x) {
  const __mmask64 neg = _mm512_movepi8_mask(w);
  const __m512i sx = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), sx);
}
inline __m256i dot_s8_s8_256(__m256i w, __m256i x) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w),
                             _mm256_sign_epi8(x, w));
}

// Scale s0 in the lower 8 lanes, s1 in the upper 8.
inline __m512 scales2(float s0, float s1) {
  return _mm512_insertf32x8(_mm512_set1_ps(s0), _mm256_set1_ps(s1), 1);
}

inline float hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

// Two blocks per step in one zmm; the odd last block in a ymm. `Pair(i)` returns the i32
// products of blocks i and i+1, `One(i)` those of block i, `scale(i)` the product of the scales.
template <class Pair, class One, class Scale>
inline float blocks_dot(int64_t nb, Pair pair, One one, Scale scale) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {  // two independent FMA chains
    acc0 = _mm512_fmadd_ps(scales2(scale(i), scale(i + 1)), _mm512_cvtepi32_ps(pair(i)), acc0);
    acc1 =
        _mm512_fmadd_ps(scales2(scale(i + 2), scale(i + 3)), _mm512_cvtepi32_ps(pair(i + 2)), acc1);
  }
  for (; i + 2 <= nb; i += 2) {
    acc0 = _mm512_fmadd_ps(scales2(scale(i), scale(i + 1)), _mm512_cvtepi32_ps(pair(i)), acc0);
  }
  float sum = hsum512(_mm512_add_ps(acc0, acc1));
  if (i < nb) sum += scale(i) * hsum(_mm256_cvtepi32_ps(one(i)));
  return sum;
}
}  // namespace

float dot_act_q8_0_vnni(const void* w, const void* act, int64_t n) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(w);
  const ActQ8_0* a = static_cast<const ActQ8_0*>(act);
  return blocks_dot(
      n / kQK8_0,
      [&](int64_t i) {
        return dot_s8_s8_512(join(load256(b[i].qs), load256(b[i + 1].qs)),
                             join(load256(a[i].qs), load256(a[i + 1].qs)));
      },
      [&](int64_t i) { return dot_s8_s8_256(load256(b[i].qs), load256(a[i].qs)); },
      [&](int64_t i) { return h2f(b[i].d) * a[i].d; });
}

namespace {
// The unsigned nibbles of a Q4_0 block in element order (low nibbles 0-15, high 16-31).
inline __m256i q4_0_nibbles(const BlockQ4_0& b) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0xF));
}
}  // namespace

// sum((nibble - 8) * x): the nibbles are unsigned, so they go straight into VPDPBUSD, which
// starts from -8 * sum(x) of each group of 4 (the activations' sum8).
float dot_act_q4_0_vnni(const void* w, const void* act, int64_t n) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(w);
  const ActQ8_0S* a = static_cast<const ActQ8_0S*>(act);
  return blocks_dot(
      n / kQK4_0,
      [&](int64_t i) {
        const __m512i neg = _mm512_sub_epi32(_mm512_setzero_si512(),
                                             join(load256(a[i].sum8), load256(a[i + 1].sum8)));
        return _mm512_dpbusd_epi32(neg, join(q4_0_nibbles(b[i]), q4_0_nibbles(b[i + 1])),
                                   join(load256(a[i].qs), load256(a[i + 1].qs)));
      },
      [&](int64_t i) {
        const __m256i neg = _mm256_sub_epi32(_mm256_setzero_si256(), load256(a[i].sum8));
        return _mm256_dpbusd_epi32(neg, q4_0_nibbles(b[i]), load256(a[i].qs));
      },
      [&](int64_t i) { return h2f(b[i].d) * a[i].d; });
}

float dot_act_q5_0_vnni(const void* w, const void* act, int64_t n) {
  const BlockQ5_0* b = static_cast<const BlockQ5_0*>(w);
  const ActQ8_0* a = static_cast<const ActQ8_0*>(act);
  return blocks_dot(
      n / kQK5_0,
      [&](int64_t i) {
        return dot_s8_s8_512(join(q5_0_signed(b[i]), q5_0_signed(b[i + 1])),
                             join(load256(a[i].qs), load256(a[i + 1].qs)));
      },
      [&](int64_t i) { return dot_s8_s8_256(q5_0_signed(b[i]), load256(a[i].qs)); },
      [&](int64_t i) { return h2f(b[i].d) * a[i].d; });
}

}  // namespace packinfer
