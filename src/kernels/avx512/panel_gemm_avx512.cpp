// AVX-512 tiles of the panel GEMM (kernel_table.h, PanelF16Fn and PanelQ8Fn; layout in
// weight_panels.h). Per k:
// one 64-byte line of a panel becomes two f32 vectors (32 weight rows), and each of up to 14 x
// rows is broadcast into two FMAs: 28 accumulators, 2 weight vectors, the broadcasts folded into
// the FMAs. No horizontal sums and no packing, so the FMA pipes stay busy at any M; measured at
// ~100% of one Zen 5 core's FMA peak from M = 8 (bench/RESULTS.md). Up to 6 rows run two panels
// at once: decode then has 4 FMA chains and two lines in flight per k instead of 2 and one.
#include <immintrin.h>

#include <utility>

// GCC 12's AVX-512 conversions start from _mm512_undefined_*(), which -Wmaybe-uninitialized
// reports as used uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/avx512/avx512_kernels.h"

namespace packinfer {
namespace {

constexpr int kWidth = kPanelWidthAvx512;
// Lines ahead that a tile prefetches: with a few rows of x a tile is a stream from memory
// (decode), and the hardware prefetcher alone leaves it ~10% short; with many rows the panel is
// in cache already and the hint costs one load slot per 28 FMAs.
constexpr int64_t kPrefetchLines = 16;

// y rows (+)= the accumulators: V vectors of 16 columns per row.
template <int MR, int V>
inline void store_rows(__m512 (&acc)[MR][V], float* y, int64_t ldy, bool accumulate) {
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      float* c = y + i * ldy + 16 * v;
      if (accumulate) acc[i][v] = _mm512_add_ps(_mm512_loadu_ps(c), acc[i][v]);
      _mm512_storeu_ps(c, acc[i][v]);
    }
  }
}

// Runs tile(out, ld, accumulate) straight into y when all `full` columns exist; otherwise (the last
// panel of a matrix whose N is not a multiple of 32) into a buffer, then only the columns that do.
template <class Tile>
inline void to_columns(const Tile& tile, int rows, int cols, int full, float* y, int64_t ldy,
                       bool accumulate) {
  if (cols == full) {
    tile(y, ldy, accumulate);
    return;
  }
  alignas(64) float edge[kPanelMaxRowsAvx512 * kWidth];  // rows x full <= 14 x 32 or 6 x 64
  tile(edge, static_cast<int64_t>(full), false);
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      y[i * ldy + j] = accumulate ? y[i * ldy + j] + edge[i * full + j] : edge[i * full + j];
    }
  }
}

// NP panels (1 or 2, the second `stride` elements after the first) against MR rows of x.
template <int MR, int NP>
void tile(const uint16_t* panel, int64_t stride, int64_t kc, const float* x, int64_t ldx, float* y,
          int64_t ldy, bool accumulate) {
  constexpr int V = 2 * NP;  // weight vectors per k
  __m512 acc[MR][V];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b[V];
#pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) {
      const uint16_t* at = panel + p * stride + k * kWidth;
      _mm_prefetch(reinterpret_cast<const char*>(at + kPrefetchLines * kWidth), _MM_HINT_T0);
      const auto* line = reinterpret_cast<const __m256i*>(at);
      b[2 * p] = _mm512_cvtph_ps(_mm256_load_si256(line));
      b[2 * p + 1] = _mm512_cvtph_ps(_mm256_load_si256(line + 1));
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(x[i * ldx + k]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
    }
  }
  store_rows<MR, V>(acc, y, ldy, accumulate);
}

using TileFn = void (*)(const uint16_t*, int64_t, int64_t, const float*, int64_t, float*, int64_t,
                        bool);

template <int NP, int... I>
constexpr TileFn pick(int rows, std::integer_sequence<int, I...>) {
  constexpr TileFn fns[] = {tile<I + 1, NP>...};
  return fns[rows - 1];
}

// Q8_0 panels: per block of 32 k, the 32 rows' scales as two vectors; per k, one 32-byte line of
// int8 becomes two f32 vectors times the scales (the dequantized weights, bit for bit), then as
// above.
constexpr int64_t kQ8BlockBytes = kPanelQ8BlockBytesAvx512;

template <int MR>
void tile_q8(const uint8_t* panel, int64_t kc, const float* x, int64_t ldx, float* y, int64_t ldy,
             bool accumulate) {
  __m512 acc[MR][2];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t k0 = 0; k0 < kc; k0 += 32) {
    const uint8_t* blk = panel + k0 / 32 * kQ8BlockBytes;
    _mm_prefetch(reinterpret_cast<const char*>(blk + 2 * kQ8BlockBytes), _MM_HINT_T0);
    const __m512 d0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    const __m512 d1 =
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32)));
    const uint8_t* q = blk + 64;
    for (int k = 0; k < 32; ++k) {
      if (k % 2 == 0)
        _mm_prefetch(reinterpret_cast<const char*>(q + k * 32 + 2 * kQ8BlockBytes), _MM_HINT_T0);
      const __m128i* line = reinterpret_cast<const __m128i*>(q + k * 32);
      const __m512 b0 =
          _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(line))), d0);
      const __m512 b1 =
          _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(line + 1))), d1);
      const float* xk = x + k0 + k;
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const __m512 a = _mm512_set1_ps(xk[i * ldx]);
        acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
      }
    }
  }
  store_rows<MR, 2>(acc, y, ldy, accumulate);
}

using TileQ8Fn = void (*)(const uint8_t*, int64_t, const float*, int64_t, float*, int64_t, bool);

template <int... I>
constexpr TileQ8Fn pick_q8(int rows, std::integer_sequence<int, I...>) {
  constexpr TileQ8Fn fns[] = {tile_q8<I + 1>...};
  return fns[rows - 1];
}

}  // namespace

void gemm_panel_q8_0_avx512(const uint8_t* panel, int64_t kc, const float* x, int64_t ldx, int rows,
                            float* y, int64_t ldy, int cols, bool accumulate) {
  const TileQ8Fn fn = pick_q8(rows, std::make_integer_sequence<int, kPanelMaxRowsAvx512>{});
  to_columns([&](float* out, int64_t ld, bool acc) { fn(panel, kc, x, ldx, out, ld, acc); }, rows,
             cols, kWidth, y, ldy, accumulate);
}

void gemm_panel_f16_avx512(const uint16_t* panel, int64_t stride, int64_t kc, const float* x,
                           int64_t ldx, int rows, float* y, int64_t ldy, int cols,
                           bool accumulate) {
  const bool pair = cols > kWidth;
  const TileFn fn = pair ? pick<2>(rows, std::make_integer_sequence<int, kPanelPairMaxRowsAvx512>{})
                         : pick<1>(rows, std::make_integer_sequence<int, kPanelMaxRowsAvx512>{});
  to_columns([&](float* out, int64_t ld, bool acc) { fn(panel, stride, kc, x, ldx, out, ld, acc); },
             rows, cols, pair ? 2 * kWidth : kWidth, y, ldy, accumulate);
}

}  // namespace packinfer
