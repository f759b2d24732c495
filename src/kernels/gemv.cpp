// Decode path (M <= kGemvMaxM): threads take chunks of weight rows, and each weight row is read
// from memory once for all M rows of x, so batched decode costs about one pass over the weights.
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

thread_local Scratch t_rows;

}  // namespace

void gemv(const TypeKernels* tk, bool avx2, const WeightMatrix& w, const float* x, int64_t ldx,
          int64_t M, float* y, int64_t ldy, ThreadPool& pool) {
  const int64_t K = w.cols;
  pool.parallel_for(w.rows, kRowGrain, [&](int64_t n0, int64_t n1) {
    if (avx2 && w.type == GgmlType::F32) {
      const int64_t ldw = w.row_bytes / static_cast<int64_t>(sizeof(float));
      gemv_f32_avx2(static_cast<const float*>(w.row(n0)), ldw, n1 - n0, x, ldx, M, K, y + n0, ldy);
      return;
    }
    if (avx2 && w.type == GgmlType::F16) {
      const int64_t ldw = w.row_bytes / static_cast<int64_t>(sizeof(uint16_t));
      gemv_f16_avx2(static_cast<const uint16_t*>(w.row(n0)), ldw, n1 - n0, x, ldx, M, K, y + n0,
                    ldy);
      return;
    }
    if (!avx2 || M == 1) {
      // One vector: the type's fused dot reads the weights once already. Scalar build: keep to
      // the reference kernels.
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
      gemv_f32_avx2(buf, K, rows, x, ldx, M, K, y + n, ldy);
    }
  });
}

}  // namespace packinfer::gemm
