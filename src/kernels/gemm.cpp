// Blocked GEMM driver (loops, cache blocking, threading, edges) shared by the scalar and AVX2
// kernels, plus the scalar kernels themselves.
#include <algorithm>
#include <atomic>
#include <cstring>

#include "kernels/matmul_internal.h"
#include "kernels/scratch.h"
#include "packinfer/error.h"

namespace packinfer::gemm {
namespace {

// Cache blocking for Zen 3 (32 KB L1d, 512 KB L2 per core):
//  - a B micro-panel, kNR x kc floats, stays in L1 while the micro-kernel walks down the rows
//    of x: kc around 256-320 gives 16-20 KB;
//  - the x block, kMC rows x kc, stays in L2 (144 x 288 x 4 = 166 KB);
//  - the packed B block, kNC x kc, is reused for every x block from L2/L3 (with several threads
//    tiles are only kTileN columns wide, so it is smaller still).
constexpr int64_t kTargetKC = 320;
constexpr int64_t kMC = 24 * kMR;
constexpr int64_t kNC = 48 * kNR;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// K block: about kTargetKC, balanced across the K blocks (576 -> 2 x 288 instead of 320 + 256)
// and a multiple of the type's block size so a weight row slice can be dequantized on its own.
int64_t choose_kc(int64_t K, int64_t block) {
  const int64_t pieces = ceil_div(K, kTargetKC);
  const int64_t kc = ceil_div(ceil_div(K, pieces), block) * block;
  return std::min(kc, K);
}

void micro_scalar(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                  bool accumulate) {
  float acc[kMR][kNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < kMR; ++i) {
      const float av = a[i * lda + k];
      for (int j = 0; j < kNR; ++j) acc[i][j] += av * b[k * kNR + j];
    }
  }
  for (int i = 0; i < kMR; ++i) {
    for (int j = 0; j < kNR; ++j)
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
  }
}

void pack_b_scalar(const float* const* rows, int64_t kc, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    for (int j = 0; j < kNR; ++j) dst[k * kNR + j] = rows[j][k];
  }
}

// A piece of the output: rows [m0, m1) of x, columns [n0, n1) of y.
struct Tile {
  int64_t m0, m1, n0, n1;
};

// Threads claim tiles from a shared counter instead of owning a fixed half of the output: on a
// machine shared with other work one core is often busy elsewhere for milliseconds, and a static
// split would make the whole call wait for it. Tiles are kTileN columns wide, so each weight
// panel is still dequantized once per (tile, K block); M is split only as far as needed to make
// about kTilesPerThread tiles per thread.
constexpr int64_t kTileN = 4 * kNR;
constexpr int64_t kTilesPerThread = 8;

struct TileGrid {
  int64_t n_tiles, m_tiles, m_step;
  int64_t count() const { return n_tiles * m_tiles; }
  Tile tile(int64_t i, int64_t M, int64_t N) const {
    const int64_t tn = i % n_tiles, tm = i / n_tiles;
    return Tile{tm * m_step, std::min(M, (tm + 1) * m_step), tn * kTileN,
                std::min(N, (tn + 1) * kTileN)};
  }
};

TileGrid make_grid(int T, int64_t M, int64_t N) {
  TileGrid g;
  g.n_tiles = ceil_div(N, kTileN);
  const int64_t want_m = ceil_div(kTilesPerThread * T, g.n_tiles);
  const int64_t max_m = ceil_div(M, kMR * 4);  // keep at least 4 register rows per tile
  g.m_tiles = std::clamp<int64_t>(want_m, 1, std::max<int64_t>(1, max_m));
  g.m_step = ceil_div(ceil_div(M, g.m_tiles), kMR) * kMR;
  g.m_tiles = ceil_div(M, g.m_step);
  return g;
}

thread_local Scratch t_bpack, t_rows, t_aedge;

void gemm_tile(const Kernels& kern, const TypeKernels* tk, int64_t block, int64_t block_bytes,
               const WeightMatrix& w, const float* x, int64_t ldx, float* y, int64_t ldy,
               const Tile& tile) {
  const int64_t K = w.cols;
  const int64_t kc_max = choose_kc(K, block);
  const bool direct_f32 = w.type == GgmlType::F32;  // pack straight from the weight rows
  float* bpack = t_bpack.floats(static_cast<size_t>(kNC * kc_max));
  // kNR dequantized rows, then one zero row standing in for weight rows past N.
  float* rows_buf = t_rows.floats(static_cast<size_t>((kNR + 1) * kc_max));
  float* zero_row = rows_buf + kNR * kc_max;
  std::memset(zero_row, 0, static_cast<size_t>(kc_max) * sizeof(float));
  // The last x rows of a block when fewer than kMR remain, zero padded.
  float* a_edge = t_aedge.floats(static_cast<size_t>(kMR * kc_max));
  alignas(32) float c_edge[kMR * kNR];

  for (int64_t jc = tile.n0; jc < tile.n1; jc += kNC) {
    const int64_t nc = std::min(kNC, tile.n1 - jc);
    const int64_t n_panels = ceil_div(nc, kNR);
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, K - pc);
      const bool accumulate = pc > 0;
      // Pack B: dequantize each weight row slice once; it is then reused for all rows of x.
      for (int64_t p = 0; p < n_panels; ++p) {
        const float* rows[kNR];
        for (int j = 0; j < kNR; ++j) {
          const int64_t n = jc + p * kNR + j;
          if (n >= jc + nc) {
            rows[j] = zero_row;
          } else if (direct_f32) {
            rows[j] = static_cast<const float*>(w.row(n)) + pc;
          } else {
            const auto* src = static_cast<const uint8_t*>(w.row(n)) + pc / block * block_bytes;
            tk->dequant(src, rows_buf + j * kc_max, kc);
            rows[j] = rows_buf + j * kc_max;
          }
        }
        kern.pack_b(rows, kc, bpack + p * kNR * kc);
      }
      for (int64_t ic = tile.m0; ic < tile.m1; ic += kMC) {
        const int64_t mc = std::min(kMC, tile.m1 - ic);
        const int64_t m_full = mc / kMR * kMR;
        if (m_full < mc) {
          std::memset(a_edge, 0, static_cast<size_t>(kMR * kc) * sizeof(float));
          for (int64_t i = m_full; i < mc; ++i) {
            std::memcpy(a_edge + (i - m_full) * kc, x + (ic + i) * ldx + pc,
                        static_cast<size_t>(kc) * sizeof(float));
          }
        }
        for (int64_t p = 0; p < n_panels; ++p) {
          const float* bp = bpack + p * kNR * kc;
          const int64_t n = jc + p * kNR;
          const int64_t nr = std::min<int64_t>(kNR, tile.n1 - n);
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int64_t mr = std::min<int64_t>(kMR, mc - ir);
            const float* a = mr == kMR ? x + (ic + ir) * ldx + pc : a_edge;
            const int64_t lda = mr == kMR ? ldx : kc;
            float* c = y + (ic + ir) * ldy + n;
            if (mr == kMR && nr == kNR) {
              kern.micro(kc, a, lda, bp, c, ldy, accumulate);
              continue;
            }
            // Edge tile: compute the full register tile aside, write back only what exists.
            kern.micro(kc, a, lda, bp, c_edge, kNR, false);
            for (int64_t i = 0; i < mr; ++i) {
              for (int64_t j = 0; j < nr; ++j) {
                c[i * ldy + j] =
                    accumulate ? c[i * ldy + j] + c_edge[i * kNR + j] : c_edge[i * kNR + j];
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

const Kernels& scalar_kernels() {
  static const Kernels k{micro_scalar, pack_b_scalar};
  return k;
}

void gemm_blocked(const Kernels& kern, const TypeKernels* tk, const WeightMatrix& w, const float* x,
                  int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool) {
  const auto traits = ggml_type_traits(static_cast<uint32_t>(w.type));
  if (!traits) throw Error("matmul: unknown weight type");
  const int64_t block = traits->block_size;
  const int64_t block_bytes = traits->type_size;
  if (w.cols % block != 0) throw Error("matmul: row length is not a multiple of the block size");
  if (pool.size() == 1) {
    // One tile: no panel is packed twice.
    gemm_tile(kern, tk, block, block_bytes, w, x, ldx, y, ldy, Tile{0, M, 0, w.rows});
    return;
  }
  const TileGrid grid = make_grid(pool.size(), M, w.rows);
  pool.parallel_for(grid.count(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t i = t0; i < t1; ++i) {
      gemm_tile(kern, tk, block, block_bytes, w, x, ldx, y, ldy, grid.tile(i, M, w.rows));
    }
  });
}

}  // namespace packinfer::gemm
