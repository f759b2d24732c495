// The KV codecs of the avx512 level: kv_codecs_simd.h over 16-lane AVX-512 F/BW/VL/DQ vectors.
#include <immintrin.h>

// GCC 12's AVX-512 reductions and down-conversions start from _mm512_undefined_*(), which
// -Wmaybe-uninitialized reports as used uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/avx2/kv_codecs_simd.h"

namespace packinfer {
namespace {

struct Vec16 {
  static constexpr int W = 16;
  using F = __m512;
  using I = __m512i;

  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F x) { _mm512_storeu_ps(p, x); }
  static F f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static F bf16(const uint16_t* p) {
    const __m512i w =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
  static F i8(const uint8_t* p) {
    return _mm512_cvtepi32_ps(
        _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  static I u8(const uint8_t* p) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  // Lane i = code i of the Bits-bit stream at p (W * Bits / 8 bytes).
  template <int Bits>
  static I codes(const uint8_t* p) {
    uint64_t bytes = 0;
    std::memcpy(&bytes, p, W * Bits / 8);
    const __m128i dup = Bits == 4 ? _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)
                                  : _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m512i b = _mm512_cvtepu8_epi32(
        _mm_shuffle_epi8(_mm_cvtsi64_si128(static_cast<long long>(bytes)), dup));
    const __m512i shift = Bits == 4 ? _mm512_set4_epi32(4, 0, 4, 0) : _mm512_set4_epi32(6, 4, 2, 0);
    return _mm512_and_si512(_mm512_srlv_epi32(b, shift), _mm512_set1_epi32((1 << Bits) - 1));
  }

  static F set(float x) { return _mm512_set1_ps(x); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F min(F a, F b) { return _mm512_min_ps(a, b); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  static F abs(F a) { return _mm512_abs_ps(a); }
  static float hmax(F a) { return _mm512_reduce_max_ps(a); }
  static float hmin(F a) { return _mm512_reduce_min_ps(a); }
  static I gt(F a, F b) { return _mm512_movm_epi32(_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)); }

  static I bits(F a) { return _mm512_castps_si512(a); }
  static F to_float(I a) { return _mm512_cvtepi32_ps(a); }
  static I set_i(int x) { return _mm512_set1_epi32(x); }
  static I add_i(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub_i(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I and_i(I a, I b) { return _mm512_and_si512(a, b); }
  static I or_i(I a, I b) { return _mm512_or_si512(a, b); }
  static I min_i(I a, I b) { return _mm512_min_epi32(a, b); }
  static I max_i(I a, I b) { return _mm512_max_epi32(a, b); }
  static I gt_i(I a, I b) { return _mm512_movm_epi32(_mm512_cmpgt_epi32_mask(a, b)); }
  static I select_i(I m, I a, I b) {
    return _mm512_mask_blend_epi32(_mm512_movepi32_mask(m), b, a);
  }
  template <int N>
  static I srli(I a) {
    return _mm512_srli_epi32(a, N);
  }
  template <int N>
  static I slli(I a) {
    return _mm512_slli_epi32(a, N);
  }

  // std::lround (see kv_codecs_avx2.cpp): truncate, step away from zero on a fraction >= 1/2.
  static I round_away(F y) {
    const F t = _mm512_roundscale_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __mmask16 half = _mm512_cmp_ps_mask(abs(_mm512_sub_ps(y, t)), set(0.5f), _CMP_GE_OQ);
    const F step = _mm512_or_ps(_mm512_and_ps(y, set(-0.0f)), set(1.0f));
    return _mm512_cvtps_epi32(_mm512_mask_add_ps(t, half, t, step));
  }
  static I trunc_i(F y) { return _mm512_cvttps_epi32(y); }

  static void store_f16(uint16_t* p, F x) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                        _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  static void store_u16(uint16_t* p, I x) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(x));
  }
  static void store_i8(uint8_t* p, I x) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(x));
  }
  static void store_u8(uint8_t* p, I x) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(x));
  }
  static void store_i32(int32_t* p, I x) { _mm512_storeu_si512(p, x); }

  template <int H>
  static F dup_pairs(F x) {
    const __m512i lanes =
        H == 0 ? _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)
               : _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    return _mm512_permutexvar_ps(lanes, x);
  }
  static F swap_pairs(F x) { return _mm512_permute_ps(x, 0xB1); }
  // AVX-512 has no addsub: the even lanes' b is negated before the add, which rounds as a
  // subtraction does.
  static F sub_even_add_odd(F a, F b) {
    const __m512i even_sign = _mm512_set4_epi32(0, static_cast<int32_t>(0x80000000u), 0,
                                                static_cast<int32_t>(0x80000000u));
    return _mm512_add_ps(a,
                         _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(b), even_sign)));
  }
};

using C = kv_simd::Codecs<Vec16>;

}  // namespace

const KvCodec kv_value_codecs_avx512[7] = {C::value[0], C::value[1], C::value[2], C::value[3],
                                           C::value[4], C::value[5], C::value[6]};
const KvCodec kv_key_codecs_avx512[7] = {C::key[0], C::key[1], C::key[2], C::key[3],
                                         C::key[4], C::key[5], C::key[6]};

void kv_rotate_rows_avx512(float* rows, int32_t n, int32_t head_dim, const float* block_cos,
                           const float* block_sin, const float* slot_cos, const float* slot_sin,
                           bool neox, float sign) {
  kv_simd::rotate_rows<Vec16, kv_rotate_rows_avx2>(rows, n, head_dim, block_cos, block_sin,
                                                   slot_cos, slot_sin, neox, sign);
}

}  // namespace packinfer
