// Blocked GEMM driver (loops, cache blocking, threading, edges) shared by the scalar and AVX2
// kernels, plus the scalar kernels themselves.
#include <algorithm>
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
//  - the packed B block, kNC x kc, is reused for every x block from L2/L3.
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
    for (int j = 0; j < kNR; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
  }
}

void pack_b_scalar(const float* const* rows, int64_t kc, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    for (int j = 0; j < kNR; ++j) dst[k * kNR + j] = rows[j][k];
  }
}

// The part of the output one thread computes: rows [m0, m1) of x, columns [n0, n1) of y.
struct Tile {
  int64_t m0, m1, n0, n1;
};

// Splits the output over the threads. Splitting N first means each weight panel is dequantized
// by exactly one thread; M is split only when N has too few panels to keep every thread busy.
Tile thread_tile(int t, int T, int64_t M, int64_t N) {
  const int64_t n_panels = ceil_div(N, kNR);
  const int64_t m_panels = ceil_div(M, kMR);
  int tn = static_cast<int>(std::clamp<int64_t>(n_panels / 2, 1, T));
  while (T % tn != 0) --tn;  // an exact grid: no idle threads
  const int tm = T / tn;
  const int ti = t % tn, tj = t / tn;
  Tile tile;
  tile.n0 = std::min(N, n_panels * ti / tn * kNR);
  tile.n1 = std::min(N, n_panels * (ti + 1) / tn * kNR);
  tile.m0 = std::min(M, m_panels * tj / tm * kMR);
  tile.m1 = std::min(M, m_panels * (tj + 1) / tm * kMR);
  return tile;
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
                c[i * ldy + j] = accumulate ? c[i * ldy + j] + c_edge[i * kNR + j] : c_edge[i * kNR + j];
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

void gemm_blocked(const Kernels& kern, const TypeKernels* tk, const WeightMatrix& w,
                  const float* x, int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool) {
  const auto traits = ggml_type_traits(static_cast<uint32_t>(w.type));
  if (!traits) throw Error("matmul: unknown weight type");
  const int64_t block = traits->block_size;
  const int64_t block_bytes = traits->type_size;
  if (w.cols % block != 0) throw Error("matmul: row length is not a multiple of the block size");
  pool.run([&](int t, int T) {
    const Tile tile = thread_tile(t, T, M, w.rows);
    if (tile.m0 < tile.m1 && tile.n0 < tile.n1) {
      gemm_tile(kern, tk, block, block_bytes, w, x, ldx, y, ldy, tile);
    }
  });
}

}  // namespace packinfer::gemm
