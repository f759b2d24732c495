// The KV codecs of the avx2 level: kv_codecs_simd.h over 8-lane AVX2 + F16C vectors.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2/kv_codecs_simd.h"

namespace packinfer {
namespace {

struct Vec8 {
  static constexpr int W = 8;
  using F = __m256;
  using I = __m256i;

  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F x) { _mm256_storeu_ps(p, x); }
  static F f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static F bf16(const uint16_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  static F i8(const uint8_t* p) {
    return _mm256_cvtepi32_ps(
        _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  static I u8(const uint8_t* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  // Lane i = code i of the Bits-bit stream at p: bytes duplicated 8/Bits times, then each lane
  // shifted to its code.
  template <int Bits>
  static I codes(const uint8_t* p) {
    uint32_t bytes = 0;
    std::memcpy(&bytes, p, W * Bits / 8);
    const __m128i dup = Bits == 4 ? _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0)
                                  : _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i b =
        _mm256_cvtepu8_epi32(_mm_shuffle_epi8(_mm_cvtsi32_si128(static_cast<int>(bytes)), dup));
    const __m256i shift = Bits == 4 ? _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4)
                                    : _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    return _mm256_and_si256(_mm256_srlv_epi32(b, shift), _mm256_set1_epi32((1 << Bits) - 1));
  }

  static F set(float x) { return _mm256_set1_ps(x); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F min(F a, F b) { return _mm256_min_ps(a, b); }
  static F max(F a, F b) { return _mm256_max_ps(a, b); }
  static F abs(F a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static float hmax(F a) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static float hmin(F a) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static I gt(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GT_OQ)); }

  static I bits(F a) { return _mm256_castps_si256(a); }
  static F to_float(I a) { return _mm256_cvtepi32_ps(a); }
  static I set_i(int x) { return _mm256_set1_epi32(x); }
  static I add_i(I a, I b) { return _mm256_add_epi32(a, b); }
  static I sub_i(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I and_i(I a, I b) { return _mm256_and_si256(a, b); }
  static I or_i(I a, I b) { return _mm256_or_si256(a, b); }
  static I min_i(I a, I b) { return _mm256_min_epi32(a, b); }
  static I max_i(I a, I b) { return _mm256_max_epi32(a, b); }
  static I gt_i(I a, I b) { return _mm256_cmpgt_epi32(a, b); }
  static I select_i(I m, I a, I b) { return _mm256_blendv_epi8(b, a, m); }
  template <int N>
  static I srli(I a) {
    return _mm256_srli_epi32(a, N);
  }
  template <int N>
  static I slli(I a) {
    return _mm256_slli_epi32(a, N);
  }

  // std::lround: truncate, then step away from zero when the dropped fraction is >= 1/2 (the
  // fraction is exact: y - trunc(y) loses nothing).
  static I round_away(F y) {
    const F t = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const F half = _mm256_cmp_ps(abs(_mm256_sub_ps(y, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const F step = _mm256_or_ps(_mm256_and_ps(y, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
    return _mm256_cvtps_epi32(_mm256_add_ps(t, _mm256_and_ps(half, step)));
  }
  static I trunc_i(F y) { return _mm256_cvttps_epi32(y); }

  static void store_f16(uint16_t* p, F x) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                     _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  static void store_u16(uint16_t* p, I x) {  // values in [0, 65535]
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), w);
  }
  static void store_i8(uint8_t* p, I x) {  // values in [-128, 127]
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packs_epi16(w, w));
  }
  static void store_u8(uint8_t* p, I x) {  // values in [0, 255]
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packus_epi16(w, w));
  }
  static void store_i32(int32_t* p, I x) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), x); }

  template <int H>
  static F dup_pairs(F x) {
    return _mm256_permute2f128_ps(_mm256_unpacklo_ps(x, x), _mm256_unpackhi_ps(x, x),
                                  H == 0 ? 0x20 : 0x31);
  }
  static F swap_pairs(F x) { return _mm256_permute_ps(x, 0xB1); }
  static F sub_even_add_odd(F a, F b) { return _mm256_addsub_ps(a, b); }
};

using C = kv_simd::Codecs<Vec8>;

}  // namespace

const KvCodec kv_value_codecs_avx2[7] = {C::value[0], C::value[1], C::value[2], C::value[3],
                                         C::value[4], C::value[5], C::value[6]};
const KvCodec kv_key_codecs_avx2[7] = {C::key[0], C::key[1], C::key[2], C::key[3],
                                       C::key[4], C::key[5], C::key[6]};

void kv_rotate_rows_avx2(float* rows, int32_t n, int32_t head_dim, const float* block_cos,
                         const float* block_sin, const float* slot_cos, const float* slot_sin,
                         bool neox, float sign) {
  kv_simd::rotate_rows<Vec8, kv_rotate_rows_scalar>(rows, n, head_dim, block_cos, block_sin,
                                                    slot_cos, slot_sin, neox, sign);
}

}  // namespace packinfer
