// Decode path (small M, see gemv_max_m): threads take chunks of weight rows, and each weight row is
// read from memory once for all M rows of x, so batched decode costs about one pass over the
// weights.
#include <algorithm>

#include "kernels/matmul_internal.h"
#include "kernels/scratch.h"

namespace packinfer::gemm {
namespace {

// Rows per parallel_for piece at least: enough work (>= ~64 KB of weights at K = 576) that the
// dynamic hand-out is noise, yet small enough that 2 threads balance on N = 192.
constexpr int64_t kRowGrain = 32;
// Quantized rows dequantized together before the f32 tile runs over them (8 x K floats in L1).
constexpr int64_t kDequantRows = 8;
// Rows per block when M needs several vector groups: 24 rows of K = 1536 f32 are 144 KB (L2).
constexpr int64_t kRowBlock = 24;

thread_local Scratch t_rows, t_act;

}  // namespace

int64_t gemv_max_m(const KernelTable& kt, GgmlType t) {
  // Measured on Zen 3/4, one thread: with a native tile (F32, F16) the GEMV stays near the FMA
  // peak up to M ~ 32 while the GEMM only reaches it from M ~ 48 (its B packing is amortised
  // over M); types that are dequantized first favour the GEMM from M ~ 12.
  if ((t == GgmlType::F32 && kt.gemv_f32 != nullptr) ||
      (t == GgmlType::F16 && kt.gemv_f16 != nullptr))
    return 32;
  return kGemvTileM;
}

void gemv(const KernelTable& kt, const TypeKernels* tk, const WeightMatrix& w, const float* x,
          int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool) {
  const int64_t K = w.cols;
  // Runs tile(row0, rows, m0, mg) over [n0, n1) x [0, M) in vector groups of at most kGemvTileM.
  // With several groups, rows go in blocks small enough to stay in L2 between the groups, so
  // weights are still read from memory once.
  auto for_groups = [&](int64_t n0, int64_t n1, auto&& tile) {
    const int64_t block = M <= kGemvTileM ? n1 - n0 : kRowBlock;
    for (int64_t r = n0; r < n1; r += block) {
      for (int64_t m0 = 0; m0 < M; m0 += kGemvTileM) {
        tile(r, std::min(block, n1 - r), m0, std::min(kGemvTileM, M - m0));
      }
    }
  };
  pool.parallel_for(w.rows, kRowGrain, [&](int64_t n0, int64_t n1) {
    if (w.type == GgmlType::F32 && kt.gemv_f32 != nullptr) {
      const int64_t ldw = w.row_bytes / static_cast<int64_t>(sizeof(float));
      for_groups(n0, n1, [&](int64_t r, int64_t rows, int64_t m0, int64_t mg) {
        kt.gemv_f32(static_cast<const float*>(w.row(r)), ldw, rows, x + m0 * ldx, ldx, mg, K,
                    y + m0 * ldy + r, ldy);
      });
      return;
    }
    if (w.type == GgmlType::F16 && kt.gemv_f16 != nullptr) {
      const int64_t ldw = w.row_bytes / static_cast<int64_t>(sizeof(uint16_t));
      for_groups(n0, n1, [&](int64_t r, int64_t rows, int64_t m0, int64_t mg) {
        kt.gemv_f16(static_cast<const uint16_t*>(w.row(r)), ldw, rows, x + m0 * ldx, ldx, mg, K,
                    y + m0 * ldy + r, ldy);
      });
      return;
    }
    if (kt.gemv_f32 == nullptr || M == 1) {
      // One vector: the type's fused dot reads the weights once already. A level without an f32
      // tile (scalar) keeps to its own dots too.
      for (int64_t n = n0; n < n1; ++n) {
        for (int64_t m = 0; m < M; ++m) y[m * ldy + n] = tk->dot(w.row(n), x + m * ldx, K);
      }
      return;
    }
    // Any other type with several vectors: dequantize a few rows into L1 once, then run the f32
    // tile so the M dots share every weight load.
    float* buf = t_rows.floats(static_cast<size_t>(kDequantRows * K));
    for (int64_t n = n0; n < n1; n += kDequantRows) {
      const int64_t rows = std::min(kDequantRows, n1 - n);
      for (int64_t r = 0; r < rows; ++r) tk->dequant(w.row(n + r), buf + r * K, K);
      for (int64_t m0 = 0; m0 < M; m0 += kGemvTileM) {
        kt.gemv_f32(buf, K, rows, x + m0 * ldx, ldx, std::min(kGemvTileM, M - m0), K,
                    y + m0 * ldy + n, ldy);
      }
    }
  });
}

void gemv_int8(const TypeKernels* tk, const WeightMatrix& w, const float* x, int64_t ldx, int64_t M,
               float* y, int64_t ldy, ThreadPool& pool) {
  const int64_t K = w.cols;
  const int64_t act_bytes = tk->act_bytes(K);
  // The calling thread quantizes; the pool's threads only read the buffer.
  auto* act =
      reinterpret_cast<uint8_t*>(t_act.floats(static_cast<size_t>((M * act_bytes + 3) / 4)));
  for (int64_t m = 0; m < M; ++m) tk->quantize_act(x + m * ldx, act + m * act_bytes, K);
  pool.parallel_for(w.rows, kRowGrain, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const void* row = w.row(n);
      for (int64_t m = 0; m < M; ++m) y[m * ldy + n] = tk->dot_act(row, act + m * act_bytes, K);
    }
  });
}

}  // namespace packinfer::gemm
