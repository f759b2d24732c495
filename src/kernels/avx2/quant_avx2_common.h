#pragma once
// Helpers for the AVX2 quant kernels. Include only from the folders of avx2 and higher levels
// (compiled with at least -mavx2 -mfma -mf16c).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/quant_blocks.h"

namespace packinfer::avx2 {

inline float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// Half -> float with F16C (exact, like fp16_to_fp32, but branch-free).
inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// 8 bytes at p zero-/sign-extended to 8 int32 lanes.
inline __m256i u8x8(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
inline __m256i i8x8(const int8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

inline __m256 to_ps(__m256i v) { return _mm256_cvtepi32_ps(v); }

// Unpacks the 12 packed bytes of Q4_K/Q5_K scales into 8 scales and 8 mins (6 bits each), in
// 32-bit words: scales 0-3 and mins 0-3 are the low 6 bits of bytes 0-3 / 4-7; scales and mins
// 4-7 take their low nibbles from bytes 8-11 and their top two bits from bits 6-7 of bytes 0-3
// (scales) / 4-7 (mins). Same result as k4_scale_min() for every j.
inline void k4_unpack_scales(const uint8_t* q, uint8_t sc[8], uint8_t m[8]) {
  uint32_t a, b, c;
  std::memcpy(&a, q, 4);
  std::memcpy(&b, q + 4, 4);
  std::memcpy(&c, q + 8, 4);
  const uint32_t s_lo = a & 0x3f3f3f3fu, m_lo = b & 0x3f3f3f3fu;
  const uint32_t s_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
  const uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
  std::memcpy(sc, &s_lo, 4);
  std::memcpy(sc + 4, &s_hi, 4);
  std::memcpy(m, &m_lo, 4);
  std::memcpy(m + 4, &m_hi, 4);
}

// d * float(u8[i]) for 8 unsigned bytes, rounded exactly as the scalar reference does.
inline __m256 scale_u8(float d, const uint8_t* u8) {
  return _mm256_mul_ps(_mm256_set1_ps(d), to_ps(u8x8(u8)));
}

// Byte i (0..31) = 0xFF if bit i of `bits` is set, else 0.
inline __m256i bits_to_bytes(uint32_t bits) {
  const __m256i v = _mm256_set1_epi32(static_cast<int>(bits));
  const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                                        2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  return _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(v, pick), bit), bit);
}

// The 32 values of a block, in order, as signed bytes q - 16 (-16..15).
inline __m256i q5_0_signed(const BlockQ5_0& b) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m256i v = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
  const __m256i nib = _mm256_and_si256(v, _mm256_set1_epi8(0xF));
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  // q - 16 = nib when the fifth bit is set, nib - 16 = nib | 0xF0 (as int8) when it is not.
  return _mm256_or_si256(nib, _mm256_andnot_si256(bits_to_bytes(qh), _mm256_set1_epi8(-16)));
}

}  // namespace packinfer::avx2
