// AVX-512 dot-product tiles behind every f32-activation matmul of this level, decode and prefill
// alike: R weight rows times MB vectors of x per pass, 16 lanes of partial sums per (row, vector).
// Compiled with the avx512 flags; reached only through the kernel tables of avx512 and above.
//
// Batch invariance: y[m][r] is computed by the same instructions in the same order whatever R,
// MB, M or n_rows are (lane l sums k = l, l + 16, ... in order, a masked step for K % 16, then the
// fixed halving tree of hsum16), so a row's result never depends on how many rows share the call.
#include <immintrin.h>

// GCC 12's AVX-512 extracts and conversions start from _mm512_undefined_*(), which
// -Wmaybe-uninitialized reports as used uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/avx512/avx512_kernels.h"
#include "kernels/gemv_rows.h"

namespace packinfer {
namespace {

// Lanes summed by halving: (l, l+8), then (l, l+4), (l, l+2), (l, l+1). Written out rather than
// _mm512_reduce_add_ps so the tree cannot change with the compiler.
inline float hsum16(__m512 v) {
  const __m256 h8 = _mm256_add_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1));
  const __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
  const __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
  const __m128 h1 = _mm_add_ss(h2, _mm_movehdup_ps(h2));
  return _mm_cvtss_f32(h1);
}

inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load16(const uint16_t* p, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

// pf, if not null, is the next block of R rows: prefetched while this one computes, so a decode
// (memory-bound) keeps enough misses in flight.
template <int R, int MB, class W>
void tile(const W* w, int64_t ldw, const float* x, int64_t ldx, int64_t K, float* y, int64_t ldy,
          const W* pf) {
  __m512 acc[R][MB];
  for (int r = 0; r < R; ++r)
    for (int m = 0; m < MB; ++m) acc[r][m] = _mm512_setzero_ps();
  // The empty asm statements keep each loaded vector in a register: without them GCC folds the
  // loads into the FMAs as memory operands, loading every vector R or MB times (half the speed).
  auto step = [&](int64_t k, auto... mask) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r) {
      wv[r] = load16(w + r * ldw + k, mask...);
      asm("" : "+v"(wv[r]));
    }
    for (int m = 0; m < MB; ++m) {
      __m512 xv = load16(x + m * ldx + k, mask...);
      asm("" : "+v"(xv));
      for (int r = 0; r < R; ++r) acc[r][m] = _mm512_fmadd_ps(wv[r], xv, acc[r][m]);
    }
  };
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    if (pf != nullptr && k % (64 / sizeof(W)) == 0) {
      for (int r = 0; r < R; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(pf + r * ldw + k), _MM_HINT_T0);
    }
    step(k);
  }
  if (k < K) step(k, static_cast<__mmask16>((1u << (K - k)) - 1));
  for (int r = 0; r < R; ++r)
    for (int m = 0; m < MB; ++m) y[m * ldy + r] = hsum16(acc[r][m]);
}

// The level's tile for gemv_rows.h. R * MB accumulators plus R weight vectors and one x vector
// stay within the 32 zmm registers (6 x 4 = 24 + 6 + 1).
struct Tiles {
  template <int R, int MB, class W>
  static void run(const W* w, int64_t ldw, const float* x, int64_t ldx, int64_t K, float* y,
                  int64_t ldy, const W* pf) {
    tile<R, MB>(w, ldw, x, ldx, K, y, ldy, pf);
  }
};

template <class W>
void gemv_any(const W* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx, int64_t M,
              int64_t K, float* y, int64_t ldy) {
  switch (M) {
    case 1:
      return rows_split<Tiles, 8, 1, 0>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 2:
      return rows_split<Tiles, 8, 2, 0>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 3:
      return rows_split<Tiles, 6, 3, 0>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 4:
      return rows_split<Tiles, 6, 4, 0>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 5:
      return rows_split<Tiles, 6, 3, 2>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 6:
      return rows_split<Tiles, 6, 3, 3>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 7:
      return rows_split<Tiles, 6, 4, 3>(w, ldw, n_rows, x, ldx, K, y, ldy);
    default:
      return rows_split<Tiles, 6, 4, 4>(w, ldw, n_rows, x, ldx, K, y, ldy);
  }
}

}  // namespace

void gemv_f32_avx512(const float* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                     int64_t M, int64_t K, float* y, int64_t ldy) {
  gemv_any(w, ldw, n_rows, x, ldx, M, K, y, ldy);
}

void gemv_f16_avx512(const uint16_t* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                     int64_t M, int64_t K, float* y, int64_t ldy) {
  gemv_any(w, ldw, n_rows, x, ldx, M, K, y, ldy);
}

}  // namespace packinfer
