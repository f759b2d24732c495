// The dot-product path of matmul: each output y[m][n] is the dot product of weight row n and x
// row m, computed by the level's dot-product tile (or the type's dot on a level without one) in
// an order fixed per output. It runs decode and small prefill chunks, where it is the fastest
// (weights are streamed once for all rows, nothing is packed), and with MatmulOrder::
// BatchInvariant every product: then a row of x gets the same bits whether it is multiplied
// alone, with 7 decode rows or inside a 512-token prefill, so a prompt prefilled in chunks,
// packed with others, recomputed after preemption or partly taken from the prefix cache
// continues exactly as it would alone, and seeded sampling is reproducible across batch shapes.
// (The blocked GEMM broadcasts x and sums each output along k, which no decode kernel matches.)
#include <algorithm>
#include <vector>

#include "kernels/matmul_internal.h"
#include "kernels/scratch.h"

namespace packinfer::gemm {
namespace {

// Decode (M <= kTileM): rows per parallel_for piece at least, enough work (>= ~64 KB of weights
// at K = 576) that the dynamic hand-out is noise, yet small enough that 2 threads balance on
// N = 192.
constexpr int64_t kRowGrain = 32;
// Decode pieces per thread at most (as ThreadPool::parallel_for chunks a range of rows).
constexpr int64_t kPiecesPerThread = 8;
// Vectors of x per tile call (the tiles' register blocking goes up to 8).
constexpr int64_t kTileM = 8;
// Decode with a type that is dequantized first: rows dequantized together (8 x K floats in L1).
constexpr int64_t kDequantRows = 8;
// Prefill: a block of weight rows (as f32, at most this many bytes) stays in L2 while every group
// of kTileM rows of x runs over it, so weights come from memory once per block of x rows.
constexpr int64_t kBlockBytes = 160 * 1024;
// Work items per thread the prefill aims for, so a thread slowed by other work on the machine
// does not hold up the call.
constexpr int64_t kItemsPerThread = 6;

thread_local Scratch t_dequant_rows, t_int8_act;

struct Products {
  const KernelTable& kt;
  const TypeKernels* tk;
  const WeightMatrix& w;
  const float* x;
  int64_t ldx;
  float* y;
  int64_t ldy;
  bool fused_single_row;

  // y rows [m0, m1) x columns [n0, n1). dq_rows: rows dequantized at a time for the types that
  // have no native tile.
  void run(int64_t n0, int64_t n1, int64_t m0, int64_t m1, int64_t dq_rows) const {
    const int64_t K = w.cols;
    auto groups = [&](auto&& call) {
      for (int64_t m = m0; m < m1; m += kTileM) call(m, std::min(kTileM, m1 - m));
    };
    if (w.type == GgmlType::F32 && kt.gemv_f32 != nullptr) {
      const int64_t ldw = w.row_bytes / static_cast<int64_t>(sizeof(float));
      groups([&](int64_t m, int64_t mg) {
        kt.gemv_f32(static_cast<const float*>(w.row(n0)), ldw, n1 - n0, x + m * ldx, ldx, mg, K,
                    y + m * ldy + n0, ldy);
      });
    } else if (w.type == GgmlType::F16 && kt.gemv_f16 != nullptr) {
      const int64_t ldw = w.row_bytes / static_cast<int64_t>(sizeof(uint16_t));
      groups([&](int64_t m, int64_t mg) {
        kt.gemv_f16(static_cast<const uint16_t*>(w.row(n0)), ldw, n1 - n0, x + m * ldx, ldx, mg, K,
                    y + m * ldy + n0, ldy);
      });
    } else if (kt.gemv_f32 != nullptr && !(fused_single_row && m1 - m0 == 1)) {
      // Dequantize a few rows once, then the f32 tile runs every vector over them from cache.
      float* buf = t_dequant_rows.floats(static_cast<size_t>(dq_rows * K));
      for (int64_t n = n0; n < n1; n += dq_rows) {
        const int64_t rows = std::min(dq_rows, n1 - n);
        for (int64_t r = 0; r < rows; ++r) tk->dequant(w.row(n + r), buf + r * K, K);
        groups([&](int64_t m, int64_t mg) {
          kt.gemv_f32(buf, K, rows, x + m * ldx, ldx, mg, K, y + m * ldy + n, ldy);
        });
      }
    } else {
      // A level without tiles (scalar), or one vector: the type's own dot, one output at a time
      // (it reads the weights once already).
      for (int64_t n = n0; n < n1; ++n) {
        for (int64_t m = m0; m < m1; ++m) y[m * ldy + n] = tk->dot(w.row(n), x + m * ldx, K);
      }
    }
  }
};

// A piece of one product: y rows [m0, m1) x columns [n0, n1).
struct Piece {
  int32_t target;
  int64_t n0, n1, m0, m1, dq_rows;
};

// Cuts one product into pieces for the threads to take.
void cut(const WeightMatrix& w, int64_t M, int threads, int32_t target, std::vector<Piece>& out) {
  if (M <= kTileM) {
    // Decode: pieces of the weight rows (as many as parallel_for would cut the rows into); each
    // row is read from memory once for all M vectors.
    const int64_t rows = std::max(kRowGrain, w.rows / (kPiecesPerThread * threads));
    for (int64_t n = 0; n < w.rows; n += rows)
      out.push_back({target, n, std::min(w.rows, n + rows), 0, M, kDequantRows});
    return;
  }
  // Prefill: blocks of weight rows sized for L2 (a multiple of 24 rows, the tiles' row counts),
  // split along M too when there are too few blocks to share between the threads.
  const int64_t K = w.cols;
  const int64_t fit = kBlockBytes / (K * static_cast<int64_t>(sizeof(float)));
  const int64_t block_n = std::clamp<int64_t>(fit / 24 * 24, 24, 192);
  const int64_t n_blocks = ceil_div(w.rows, block_n);
  const int64_t want = kItemsPerThread * static_cast<int64_t>(threads);
  const int64_t m_blocks = std::clamp<int64_t>(ceil_div(want, n_blocks), 1, ceil_div(M, kTileM));
  const int64_t block_m = ceil_div(ceil_div(M, m_blocks), kTileM) * kTileM;
  for (int64_t m0 = 0; m0 < M; m0 += block_m) {
    for (int64_t n0 = 0; n0 < w.rows; n0 += block_n) {
      out.push_back(
          {target, n0, std::min(w.rows, n0 + block_n), m0, std::min(M, m0 + block_m), block_n});
    }
  }
}

}  // namespace

int64_t row_dots_max_m(const KernelTable& kt, GgmlType t) {
  // Measured on Zen 5 at the avx512 level (bench/RESULTS.md, "Batch invariance and the
  // dot-product tiles"): with a native tile (F32, F16) the tiles beat the GEMM up to M ~ 160 (the
  // GEMM packs every weight panel once per call, which only large M amortises). The avx2 level
  // keeps the 32 measured on Zen 3/4 before these tiles existed.
  // Types that are dequantized first favour the GEMM from M ~ 12.
  if ((t == GgmlType::F32 && kt.gemv_f32 != nullptr) ||
      (t == GgmlType::F16 && kt.gemv_f16 != nullptr))
    return kt.isa == Isa::Avx2 ? 32 : 128;
  return kTileM;
}

void row_dots(const KernelTable& kt, const TypeKernels* tk, const WeightMatrix& w, const float* x,
              int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool,
              bool fused_single_row) {
  const RowDotsTarget one{tk, &w, y, ldy};
  row_dots_many(kt, std::span<const RowDotsTarget>(&one, 1), x, ldx, M, pool, fused_single_row);
}

void row_dots_many(const KernelTable& kt, std::span<const RowDotsTarget> targets, const float* x,
                   int64_t ldx, int64_t M, ThreadPool& pool, bool fused_single_row) {
  // Reused across calls (a step makes hundreds); only the calling thread plans.
  thread_local std::vector<Piece> pieces;
  pieces.clear();
  for (size_t t = 0; t < targets.size(); ++t) {
    cut(*targets[t].w, M, pool.size(), static_cast<int32_t>(t), pieces);
  }
  // The workers must read this thread's plan: inside the lambda the name `pieces` would be
  // each worker's own (empty) thread_local vector.
  const Piece* plan = pieces.data();
  pool.parallel_for(static_cast<int64_t>(pieces.size()), 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const Piece& pc = plan[i];
      const RowDotsTarget& t = targets[static_cast<size_t>(pc.target)];
      const Products p{kt, t.tk, *t.w, x, ldx, t.y, t.ldy, fused_single_row};
      p.run(pc.n0, pc.n1, pc.m0, pc.m1, pc.dq_rows);
    }
  });
}

void gemv_int8(const TypeKernels* tk, const WeightMatrix& w, const float* x, int64_t ldx, int64_t M,
               float* y, int64_t ldy, ThreadPool& pool) {
  const int64_t K = w.cols;
  const int64_t act_bytes = tk->act_bytes(K);
  // The calling thread quantizes; the pool's threads only read the buffer.
  auto* act =
      reinterpret_cast<uint8_t*>(t_int8_act.floats(static_cast<size_t>((M * act_bytes + 3) / 4)));
  for (int64_t m = 0; m < M; ++m) tk->quantize_act(x + m * ldx, act + m * act_bytes, K);
  pool.parallel_for(w.rows, kRowGrain, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const void* row = w.row(n);
      for (int64_t m = 0; m < M; ++m) y[m * ldy + n] = tk->dot_act(row, act + m * act_bytes, K);
    }
  });
}

}  // namespace packinfer::gemm
