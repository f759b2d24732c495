// AVX2/FMA GEMV tiles for decode: R weight rows times MB vectors of x per pass, so each weight
// vector loaded from memory feeds MB FMAs and each x vector feeds R. Compiled with -mavx2 -mfma
// -mf16c; reached only after use_avx2().
#include <immintrin.h>

#include "kernels/fp16.h"
#include "kernels/matmul_internal.h"

namespace packinfer::gemm {
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

// Rows per pass for MB vectors: at least 8 independent accumulators (two FMA pipes x 4-cycle
// latency) while R*MB accumulators + R weight vectors + one x vector fit in 16 ymm registers.
constexpr int rows_for(int mb) { return mb == 1 ? 8 : mb == 2 ? 4 : mb == 3 ? 3 : mb == 4 ? 2 : 1; }

template <int R, int MB, class W>
void tile(const W* w, int64_t ldw, const float* x, int64_t ldx, int64_t K, float* y, int64_t ldy) {
  __m256 acc[R][MB];
  for (int r = 0; r < R; ++r)
    for (int m = 0; m < MB; ++m) acc[r][m] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    if constexpr (MB == 1) {
      // One x vector, R streams of weights: no need to keep the weight vectors live.
      const __m256 xv = _mm256_loadu_ps(x + k);
      for (int r = 0; r < R; ++r) acc[r][0] = _mm256_fmadd_ps(load8(w + r * ldw + k), xv, acc[r][0]);
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

template <int MB, class W>
void rows_mb(const W* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx, int64_t K,
             float* y, int64_t ldy) {
  constexpr int R = rows_for(MB);
  int64_t r = 0;
  for (; r + R <= n_rows; r += R) tile<R, MB>(w + r * ldw, ldw, x, ldx, K, y + r, ldy);
  for (; r < n_rows; ++r) tile<1, MB>(w + r * ldw, ldw, x, ldx, K, y + r, ldy);
}

template <class W>
void gemv_any(const W* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx, int64_t M,
              int64_t K, float* y, int64_t ldy) {
  switch (M) {
    case 1: return rows_mb<1>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 2: return rows_mb<2>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 3: return rows_mb<3>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 4: return rows_mb<4>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 5: return rows_mb<5>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 6: return rows_mb<6>(w, ldw, n_rows, x, ldx, K, y, ldy);
    case 7: return rows_mb<7>(w, ldw, n_rows, x, ldx, K, y, ldy);
    default: return rows_mb<8>(w, ldw, n_rows, x, ldx, K, y, ldy);
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

}  // namespace packinfer::gemm
