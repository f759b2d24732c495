// AVX2/FMA GEMV tiles for decode: R weight rows times MB vectors of x per pass, so each weight
// vector loaded from memory feeds MB FMAs and each x vector feeds R. Compiled with the avx2 flags;
// reached only through the kernel tables of avx2 and above.
#include <immintrin.h>

#include "kernels/avx2/avx2_kernels.h"
#include "kernels/fp16.h"
#include "kernels/gemv_rows.h"

namespace packinfer {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline float load1(const float* p) { return *p; }
inline float load1(const uint16_t* p) { return fp16_to_fp32(*p); }

// pf, if not null, is the next block of R rows: it is prefetched while this one computes. With
// several vectors per weight row the tile runs below DRAM speed per row, and the hardware
// prefetcher alone then keeps too few misses in flight (M = 8 streamed ~9 GB/s without this).
template <int R, int MB, class W>
void tile(const W* w, int64_t ldw, const float* x, int64_t ldx, int64_t K, float* y, int64_t ldy,
          const W* pf) {
  __m256 acc[R][MB];
  for (int r = 0; r < R; ++r)
    for (int m = 0; m < MB; ++m) acc[r][m] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    if (pf != nullptr && k % (64 / sizeof(W)) == 0) {
      for (int r = 0; r < R; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(pf + r * ldw + k), _MM_HINT_T0);
    }
    if constexpr (MB == 1) {
      // One x vector, R streams of weights: no need to keep the weight vectors live.
      const __m256 xv = _mm256_loadu_ps(x + k);
      for (int r = 0; r < R; ++r)
        acc[r][0] = _mm256_fmadd_ps(load8(w + r * ldw + k), xv, acc[r][0]);
    } else {
      __m256 wv[R];
      for (int r = 0; r < R; ++r) wv[r] = load8(w + r * ldw + k);
      for (int m = 0; m < MB; ++m) {
        const __m256 xv = _mm256_loadu_ps(x + m * ldx + k);
        for (int r = 0; r < R; ++r) acc[r][m] = _mm256_fmadd_ps(wv[r], xv, acc[r][m]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int m = 0; m < MB; ++m) {
      float s = hsum(acc[r][m]);
      for (int64_t t = k; t < K; ++t) s += load1(w + r * ldw + t) * x[m * ldx + t];
      y[m * ldy + r] = s;
    }
  }
}

// The level's tile for gemv_rows.h. R and the split keep R * MB accumulators (at least 8: two
// FMA pipes x 4-cycle latency) plus R weight vectors within the 16 ymm registers, and x comes
// straight from L1 as the FMA memory operand.
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
      return rows_split<Tiles, 4, 2, 0>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 3:
      return rows_split<Tiles, 3, 3, 0>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 4:
      return rows_split<Tiles, 3, 4, 0>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 5:
      return rows_split<Tiles, 3, 3, 2>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 6:
      return rows_split<Tiles, 3, 3, 3>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 7:
      return rows_split<Tiles, 3, 4, 3>(w, ldw, n_rows, x, ldx, K, y, ldy);
    default:
      return rows_split<Tiles, 3, 4, 4>(w, ldw, n_rows, x, ldx, K, y, ldy);
  }
}

}  // namespace

void gemv_f32_avx2(const float* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                   int64_t M, int64_t K, float* y, int64_t ldy) {
  gemv_any(w, ldw, n_rows, x, ldx, M, K, y, ldy);
}

void gemv_f16_avx2(const uint16_t* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                   int64_t M, int64_t K, float* y, int64_t ldy) {
  gemv_any(w, ldw, n_rows, x, ldx, M, K, y, ldy);
}

}  // namespace packinfer
