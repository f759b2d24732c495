// AVX-512 micro-kernel and B-panel packer of the blocked GEMM (gemm.cpp). Compiled with the
// avx512 flags; reached only through kernels_for(Isa::Avx512) and above.
//
// 14x32 tile: 28 zmm accumulators, two B vectors per k step, and the x elements broadcast straight
// from memory into the FMAs, so 30 of the 32 zmm registers are live. Per k step: 2 B loads and 14
// broadcasts feed 28 FMAs of 16 lanes, twice the work per instruction of the 6x16 AVX2 tile with
// the same load/FMA balance, and 28 independent chains cover the FMA latency on two pipes.
#include <immintrin.h>

#include "kernels/avx512/avx512_kernels.h"

namespace packinfer {
namespace {

constexpr int kMR = 14;
constexpr int kNR = 32;

template <int MR>
inline void micro(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                  bool accumulate) {
  __m512 acc[MR][2];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
    b += kNR;
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i * lda + k]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* p = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_loadu_ps(p));
      acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_loadu_ps(p + 16));
    }
    _mm512_storeu_ps(p, acc[i][0]);
    _mm512_storeu_ps(p + 16, acc[i][1]);
  }
}

// Transposes an 8x8 block held in r[0..7] (r[i] = row i) in registers.
inline void transpose8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

}  // namespace

void gemm_micro_14x32_avx512(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                             int64_t ldc, bool accumulate) {
  micro<kMR>(kc, a, lda, b, c, ldc, accumulate);
}

// As the AVX2 packer, 8x8 register transposes, four per 8 k steps for the 32 rows.
void gemm_pack_b32_avx512(const float* const* rows, int64_t kc, float* dst) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    for (int g = 0; g < kNR / 8; ++g) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(rows[g * 8 + i] + k);
      transpose8(r);
      for (int i = 0; i < 8; ++i) _mm256_store_ps(dst + (k + i) * kNR + g * 8, r[i]);
    }
  }
  for (; k < kc; ++k) {
    for (int j = 0; j < kNR; ++j) dst[k * kNR + j] = rows[j][k];
  }
}

}  // namespace packinfer
