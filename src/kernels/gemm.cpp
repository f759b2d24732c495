// Blocked GEMM driver: loops, cache blocking, threading and edges around the register tile of any
// level's micro-kernel (GemmKernel: mr x nr, K block kc).
#include <algorithm>
#include <atomic>
#include <cstring>

#include "kernels/matmul_internal.h"
#include "kernels/scratch.h"
#include "packinfer/error.h"

namespace packinfer::gemm {
namespace {

// Cache blocking, sized for 32-48 KB of L1d and 512 KB-2 MB of L2 per core (Zen 3-5, Sapphire
// Rapids):
//  - a B micro-panel, nr x kc floats, stays in L1 while the micro-kernel walks down the rows of x
//    (the level picks kc for its nr: 16 x 320 is 20 KB, 32 x 288 is 36 KB);
//  - the x block, about kTargetMC rows x kc, stays in L2 (144 x 288 x 4 = 166 KB);
//  - the packed B block, about kTargetNC x kc, is reused for every x block from L2/L3 (with several
//    threads tiles are only about kTargetTileN columns wide, so it is smaller still).
constexpr int64_t kTargetMC = 144;
constexpr int64_t kTargetNC = 768;
// Threads claim tiles from a shared counter instead of owning a fixed half of the output: on a
// machine shared with other work one core is often busy elsewhere for milliseconds, and a static
// split would make the whole call wait for it. Tiles are about kTargetTileN columns wide, so each
// weight panel is still dequantized once per (tile, K block); M is split only as far as needed to
// make about kTilesPerThread tiles per thread.
constexpr int64_t kTargetTileN = 64;
constexpr int64_t kTilesPerThread = 8;

// The blocking of one micro-kernel: every block is a whole number of register tiles.
struct Blocking {
  int64_t mr, nr, kc_target, mc, nc, tile_n;
  explicit Blocking(const GemmKernel& k)
      : mr(k.mr),
        nr(k.nr),
        kc_target(k.kc),
        mc(std::max<int64_t>(1, kTargetMC / k.mr) * k.mr),
        nc(std::max<int64_t>(1, kTargetNC / k.nr) * k.nr),
        tile_n(ceil_div(kTargetTileN, k.nr) * k.nr) {}
};

// K block: about kc_target, balanced across the K blocks (576 -> 2 x 288 instead of 320 + 256)
// and a multiple of the type's block size so a weight row slice can be dequantized on its own.
int64_t choose_kc(int64_t K, int64_t block, int64_t kc_target) {
  const int64_t pieces = ceil_div(K, kc_target);
  const int64_t kc = ceil_div(ceil_div(K, pieces), block) * block;
  return std::min(kc, K);
}

// A piece of the output: rows [m0, m1) of x, columns [n0, n1) of y.
struct Tile {
  int64_t m0, m1, n0, n1;
};

struct TileGrid {
  int64_t tile_n, n_tiles, m_tiles, m_step;
  int64_t count() const { return n_tiles * m_tiles; }
  Tile tile(int64_t i, int64_t M, int64_t N) const {
    const int64_t tn = i % n_tiles, tm = i / n_tiles;
    return Tile{tm * m_step, std::min(M, (tm + 1) * m_step), tn * tile_n,
                std::min(N, (tn + 1) * tile_n)};
  }
};

TileGrid make_grid(const Blocking& bl, int T, int64_t M, int64_t N) {
  TileGrid g;
  g.tile_n = bl.tile_n;
  g.n_tiles = ceil_div(N, g.tile_n);
  const int64_t want_m = ceil_div(kTilesPerThread * T, g.n_tiles);
  const int64_t max_m = ceil_div(M, bl.mr * 4);  // keep at least 4 register rows per tile
  g.m_tiles = std::clamp<int64_t>(want_m, 1, std::max<int64_t>(1, max_m));
  g.m_step = ceil_div(ceil_div(M, g.m_tiles), bl.mr) * bl.mr;
  g.m_tiles = ceil_div(M, g.m_step);
  return g;
}

thread_local Scratch t_bpack, t_rows, t_aedge;

void gemm_tile(const GemmKernel& kern, const Blocking& bl, const TypeKernels* tk, int64_t block,
               int64_t block_bytes, const WeightMatrix& w, const float* x, int64_t ldx, float* y,
               int64_t ldy, const Tile& tile) {
  const int64_t K = w.cols;
  const int64_t mr = bl.mr, nr = bl.nr;
  const int64_t kc_max = choose_kc(K, block, bl.kc_target);
  const bool direct_f32 = w.type == GgmlType::F32;  // pack straight from the weight rows
  float* bpack = t_bpack.floats(static_cast<size_t>(bl.nc * kc_max));
  // nr dequantized rows, then one zero row standing in for weight rows past N.
  float* rows_buf = t_rows.floats(static_cast<size_t>((nr + 1) * kc_max));
  float* zero_row = rows_buf + nr * kc_max;
  std::memset(zero_row, 0, static_cast<size_t>(kc_max) * sizeof(float));
  // The last x rows of a block when fewer than mr remain, zero padded.
  float* a_edge = t_aedge.floats(static_cast<size_t>(mr * kc_max));
  alignas(64) float c_edge[kGemmMaxMR * kGemmMaxNR];

  for (int64_t jc = tile.n0; jc < tile.n1; jc += bl.nc) {
    const int64_t nc = std::min(bl.nc, tile.n1 - jc);
    const int64_t n_panels = ceil_div(nc, nr);
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, K - pc);
      const bool accumulate = pc > 0;
      // Pack B: dequantize each weight row slice once; it is then reused for all rows of x.
      for (int64_t p = 0; p < n_panels; ++p) {
        const float* rows[kGemmMaxNR];
        for (int64_t j = 0; j < nr; ++j) {
          const int64_t n = jc + p * nr + j;
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
        kern.pack_b(rows, kc, bpack + p * nr * kc);
      }
      for (int64_t ic = tile.m0; ic < tile.m1; ic += bl.mc) {
        const int64_t mc = std::min(bl.mc, tile.m1 - ic);
        const int64_t m_full = mc / mr * mr;
        if (m_full < mc) {
          std::memset(a_edge, 0, static_cast<size_t>(mr * kc) * sizeof(float));
          for (int64_t i = m_full; i < mc; ++i) {
            std::memcpy(a_edge + (i - m_full) * kc, x + (ic + i) * ldx + pc,
                        static_cast<size_t>(kc) * sizeof(float));
          }
        }
        for (int64_t p = 0; p < n_panels; ++p) {
          const float* bp = bpack + p * nr * kc;
          const int64_t n = jc + p * nr;
          const int64_t nv = std::min(nr, tile.n1 - n);
          for (int64_t ir = 0; ir < mc; ir += mr) {
            const int64_t mv = std::min(mr, mc - ir);
            const float* a = mv == mr ? x + (ic + ir) * ldx + pc : a_edge;
            const int64_t lda = mv == mr ? ldx : kc;
            float* c = y + (ic + ir) * ldy + n;
            if (mv == mr && nv == nr) {
              kern.micro(kc, a, lda, bp, c, ldy, accumulate);
              continue;
            }
            // Edge tile: compute the full register tile aside, write back only what exists.
            kern.micro(kc, a, lda, bp, c_edge, nr, false);
            for (int64_t i = 0; i < mv; ++i) {
              for (int64_t j = 0; j < nv; ++j) {
                c[i * ldy + j] =
                    accumulate ? c[i * ldy + j] + c_edge[i * nr + j] : c_edge[i * nr + j];
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

void gemm_blocked(const GemmKernel& kern, const TypeKernels* tk, const WeightMatrix& w,
                  const float* x, int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool) {
  const auto traits = ggml_type_traits(static_cast<uint32_t>(w.type));
  if (!traits) throw Error("matmul: unknown weight type");
  if (kern.mr < 1 || kern.mr > kGemmMaxMR || kern.nr < 1 || kern.nr > kGemmMaxNR || kern.kc < 1)
    throw Error("matmul: GEMM micro-kernel tile out of range");
  const int64_t block = traits->block_size;
  const int64_t block_bytes = traits->type_size;
  if (w.cols % block != 0) throw Error("matmul: row length is not a multiple of the block size");
  const Blocking bl(kern);
  if (pool.size() == 1) {
    // One tile: no panel is packed twice.
    gemm_tile(kern, bl, tk, block, block_bytes, w, x, ldx, y, ldy, Tile{0, M, 0, w.rows});
    return;
  }
  const TileGrid grid = make_grid(bl, pool.size(), M, w.rows);
  pool.parallel_for(grid.count(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t i = t0; i < t1; ++i) {
      gemm_tile(kern, bl, tk, block, block_bytes, w, x, ldx, y, ldy, grid.tile(i, M, w.rows));
    }
  });
}

}  // namespace packinfer::gemm
