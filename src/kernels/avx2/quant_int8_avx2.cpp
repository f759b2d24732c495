// AVX2 integer dot path (TypeKernels::dot_act): weights unpacked to bytes in registers and
// multiplied with int8 activations by maddubs (u8 x s8 -> pairs summed in i16), then madd with
// the sub-block scales (i16 x i16 -> i32). One float FMA per block instead of one per 8 weights,
// which is what lets the decode GEMV keep up with memory bandwidth.
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/quant_avx2_common.h"
#include "kernels/quant_blocks.h"

namespace packinfer {
using namespace avx2;

namespace {
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 16 pairwise products of unsigned u and signed s bytes -> 8 i32 (sums of 4 adjacent products).
inline __m256i dot_u8_s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Signed x signed via the sign trick: |w| is unsigned, and x takes w's sign.
inline __m256i dot_s8_s8(__m256i w, __m256i x) {
  return dot_u8_s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

// Byte-shuffle masks that broadcast i16 word j of each 128-bit lane.
inline __m256i word_mask(int lo_word, int hi_word) {
  const auto w = [](int j) { return static_cast<short>((2 * j) | ((2 * j + 1) << 8)); };
  return _mm256_set_m128i(_mm_set1_epi16(w(hi_word)), _mm_set1_epi16(w(lo_word)));
}

// 8 byte scales as i16 in both 128-bit lanes, ready for word_mask shuffles.
inline __m256i scales_i16_u8(const uint8_t* p) {
  return _mm256_broadcastsi128_si256(
      _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
}  // namespace

float dot_act_q8_0_avx2(const void* w, const void* act, int64_t n) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(w);
  const ActQ8_0* a = static_cast<const ActQ8_0*>(act);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const int64_t nb = n / kQK8_0;
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {  // two blocks per step: independent FMA chains
    const __m256i p0 = dot_s8_s8(load256(b[i].qs), load256(a[i].qs));
    const __m256i p1 = dot_s8_s8(load256(b[i + 1].qs), load256(a[i + 1].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i].d) * a[i].d), to_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i + 1].d) * a[i + 1].d), to_ps(p1), acc1);
  }
  if (i < nb) {
    const __m256i p0 = dot_s8_s8(load256(b[i].qs), load256(a[i].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i].d) * a[i].d), to_ps(p0), acc0);
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

namespace {
// sum((nibble - 8) * x) of a Q4_0 block as 8 i32 lanes: the unsigned nibbles go straight into
// maddubs and the offset comes off with the precomputed 8 * sum(x) of each lane's 4 elements.
inline __m256i q4_0_dot(const BlockQ4_0& b, const ActQ8_0S& a) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m256i v = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);  // elements 0-15 | 16-31
  const __m256i nib = _mm256_and_si256(v, _mm256_set1_epi8(0xF));
  return _mm256_sub_epi32(dot_u8_s8(nib, load256(a.qs)), load256(a.sum8));
}
}  // namespace

float dot_act_q4_0_avx2(const void* w, const void* act, int64_t n) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(w);
  const ActQ8_0S* a = static_cast<const ActQ8_0S*>(act);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const int64_t nb = n / kQK4_0;
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m256i p0 = q4_0_dot(b[i], a[i]);
    const __m256i p1 = q4_0_dot(b[i + 1], a[i + 1]);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i].d) * a[i].d), to_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i + 1].d) * a[i + 1].d), to_ps(p1), acc1);
  }
  if (i < nb) {
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i].d) * a[i].d), to_ps(q4_0_dot(b[i], a[i])), acc0);
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

float dot_act_q2_k_avx2(const void* w, const void* act, int64_t n) {
  const BlockQ2_K* b = static_cast<const BlockQ2_K*>(w);
  const ActQ8K* a = static_cast<const ActQ8K*>(act);
  const __m256i m3 = _mm256_set1_epi8(3);
  // Lower lane: scale of the first 16 of a run of 32 (word 0), upper lane: the second (word 1);
  // the scales are shifted down one pair of words per run.
  const __m256i w01 = word_mask(0, 1);
  __m256 acc = _mm256_setzero_ps();
  __m256 macc = _mm256_setzero_ps();  // kept in lanes: no horizontal sum per block
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].scales));
    const __m128i sc = _mm_and_si128(raw, _mm_set1_epi8(0xF));
    const __m128i mn = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0xF));
    // Mins: sum over sub-blocks of min * sum(x) uses the precomputed bsums.
    const __m256i summ = _mm256_madd_epi16(_mm256_cvtepu8_epi16(mn), load256(a[i].bsums));
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      __m256i s16 =
          _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(h == 0 ? sc : _mm_srli_si128(sc, 8)));
      const __m256i q = load256(b[i].qs + 32 * h);
      for (int s = 0; s < 4; ++s) {
        // Shifting 16-bit lanes moves bits across bytes, but the mask keeps only the 2 wanted.
        const __m256i qv = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3);
        const __m256i p = _mm256_maddubs_epi16(qv, load256(a[i].qs + 128 * h + 32 * s));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(s16, w01)));
        s16 = _mm256_srli_si256(s16, 4);
      }
    }
    const float dx = a[i].d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i].d) * dx), to_ps(sumi), acc);
    macc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i].dmin) * dx), to_ps(summ), macc);
  }
  return hsum(_mm256_sub_ps(acc, macc));
}

namespace {
// min * sum(x) of the 8 sub-blocks of 32, summed in pairs into 4 i32 lanes (from the packed
// mins and the activation bsums).
inline __m128i k4_min_sums(const uint8_t m[8], const int16_t* bsums) {
  const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums));
  const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums + 8));
  const __m128i pairs = _mm_hadd_epi16(b0, b1);  // sum(x) per sub-block of 32 (fits in i16)
  const __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m)));
  return _mm_madd_epi16(mins, pairs);
}

inline float hsum128(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}
}  // namespace

float dot_act_q4_k_avx2(const void* w, const void* act, int64_t n) {
  const BlockQ4_K* b = static_cast<const BlockQ4_K*>(w);
  const ActQ8K* a = static_cast<const ActQ8K*>(act);
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const __m256i w0 = word_mask(0, 0), w1 = word_mask(1, 1);
  __m256 acc = _mm256_setzero_ps();
  __m128 macc = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t sc[8], m[8];
    k4_unpack_scales(b[i].scales, sc, m);
    // Scales of sub-blocks 2p and 2p+1 are moved down to words 0 and 1 before each step, so two
    // broadcast masks serve all four steps (fewer live constants, no spills).
    __m256i s16 = scales_i16_u8(sc);
    __m256i sumi = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
      const __m256i v = load256(b[i].qs + 32 * p);
      const __m256i lo = _mm256_and_si256(v, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      const __m256i plo = _mm256_maddubs_epi16(lo, load256(a[i].qs + 64 * p));
      const __m256i phi = _mm256_maddubs_epi16(hi, load256(a[i].qs + 64 * p + 32));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_shuffle_epi8(s16, w0)));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_shuffle_epi8(s16, w1)));
      s16 = _mm256_srli_si256(s16, 4);
    }
    const float dx = a[i].d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i].d) * dx), to_ps(sumi), acc);
    macc = _mm_fmadd_ps(_mm_set1_ps(h2f(b[i].dmin) * dx),
                        _mm_cvtepi32_ps(k4_min_sums(m, a[i].bsums)), macc);
  }
  return hsum(acc) - hsum128(macc);
}

float dot_act_q5_k_avx2(const void* w, const void* act, int64_t n) {
  const BlockQ5_K* b = static_cast<const BlockQ5_K*>(w);
  const ActQ8K* a = static_cast<const ActQ8K*>(act);
  const __m256i m4 = _mm256_set1_epi8(0xF), b4 = _mm256_set1_epi8(0x10);
  const __m256i w0 = word_mask(0, 0), w1 = word_mask(1, 1);
  __m256 acc = _mm256_setzero_ps();
  __m128 macc = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t sc[8], m[8];
    k4_unpack_scales(b[i].scales, sc, m);
    // Scales of sub-blocks 2p and 2p+1 are moved down to words 0 and 1 before each step, so two
    // broadcast masks serve all four steps (fewer live constants, no spills).
    __m256i s16 = scales_i16_u8(sc);
    __m256i hb = load256(b[i].qh);
    __m256i sumi = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
      const __m256i v = load256(b[i].qs + 32 * p);
      // Bits 2p and 2p+1 of qh (now at bits 0 and 1 of each byte) become bit 4.
      const __m256i lo =
          _mm256_or_si256(_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), b4));
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                                         _mm256_and_si256(_mm256_slli_epi16(hb, 3), b4));
      hb = _mm256_srli_epi16(hb, 2);
      const __m256i plo = _mm256_maddubs_epi16(lo, load256(a[i].qs + 64 * p));
      const __m256i phi = _mm256_maddubs_epi16(hi, load256(a[i].qs + 64 * p + 32));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_shuffle_epi8(s16, w0)));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_shuffle_epi8(s16, w1)));
      s16 = _mm256_srli_si256(s16, 4);
    }
    const float dx = a[i].d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i].d) * dx), to_ps(sumi), acc);
    macc = _mm_fmadd_ps(_mm_set1_ps(h2f(b[i].dmin) * dx),
                        _mm_cvtepi32_ps(k4_min_sums(m, a[i].bsums)), macc);
  }
  return hsum(acc) - hsum128(macc);
}

float dot_act_q6_k_avx2(const void* w, const void* act, int64_t n) {
  const BlockQ6_K* b = static_cast<const BlockQ6_K*>(w);
  const ActQ8K* a = static_cast<const ActQ8K*>(act);
  const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
  // Lower lane: scale of the first 16 of a run of 32 (word 0), upper lane: the second (word 1);
  // the scales are shifted down one pair of words per run.
  const __m256i w01 = word_mask(0, 1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].scales));
    // q - 32 is applied afterwards: sum(sc * (q - 32) * x) = sum(sc * q * x) - 32 sum(sc * bsum).
    __m256i sumi =
        _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), load256(a[i].bsums)), 5);
    sumi = _mm256_sub_epi32(_mm256_setzero_si256(), sumi);
    for (int h = 0; h < 2; ++h) {
      __m256i s16 =
          _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(h == 0 ? sc8 : _mm_srli_si128(sc8, 8)));
      const __m256i ql0 = load256(b[i].ql + 64 * h), ql1 = load256(b[i].ql + 64 * h + 32);
      const __m256i qh = load256(b[i].qh + 32 * h);
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                             _mm256_and_si256(qh, m30));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
      for (int k = 0; k < 4; ++k) {
        const __m256i p = _mm256_maddubs_epi16(q[k], load256(a[i].qs + 128 * h + 32 * k));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(s16, w01)));
        s16 = _mm256_srli_si256(s16, 4);
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i].d) * a[i].d), to_ps(sumi), acc);
  }
  return hsum(acc);
}

}  // namespace packinfer
