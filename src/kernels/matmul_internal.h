#pragma once
// Internals of matmul(): the blocked GEMM driver, the GEMV driver, and the raw-pointer kernels
// they call. The AVX2 kernels live in *_avx2.cpp files and take only raw pointers, so no inline
// library code (std::function, std::vector, ...) is ever instantiated with AVX2 enabled and then
// shared with the baseline build through the linker.
#include <cstdint>

#include "kernels/matmul.h"
#include "kernels/type_kernels.h"

namespace packinfer::gemm {

// Register tile of the micro-kernel: MR rows of x by NR weight rows (output columns). 6x16 uses
// 12 of the 16 ymm registers for accumulators, leaving room for two B vectors and a broadcast.
constexpr int kMR = 6;
constexpr int kNR = 16;

struct Kernels {
  // c[i*ldc + j] (+)= sum_k a[i*lda + k] * b[k*kNR + j] for i < kMR, j < kNR. `a` rows are read
  // in place (x is not packed: its rows are contiguous and reused from L1/L2 anyway).
  void (*micro)(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                bool accumulate);
  // Interleaves kNR rows of kc floats into the panel layout dst[k*kNR + j] = rows[j][k].
  void (*pack_b)(const float* const* rows, int64_t kc, float* dst);
};

const Kernels& scalar_kernels();
const Kernels& avx2_kernels();  // defined in gemm_avx2.cpp

// Blocked GEMM over any weight type: weight panels are dequantized with tk->dequant once per
// (panel, K block) and reused for every row of x.
void gemm_blocked(const Kernels& kern, const TypeKernels* tk, const WeightMatrix& w, const float* x,
                  int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool);

// Small-M path: every weight row is streamed from memory once for all M rows of x, which the
// kernels take in groups of up to kGemvTileM vectors.
constexpr int64_t kGemvTileM = 8;
// Largest M for which matmul uses the GEMV rather than the blocked GEMM.
int64_t gemv_max_m(GgmlType t, bool avx2);
void gemv(const TypeKernels* tk, bool avx2, const WeightMatrix& w, const float* x, int64_t ldx,
          int64_t M, float* y, int64_t ldy, ThreadPool& pool);

// y[m*ldy + r] = dot(w row r, x row m) for r < n_rows, m < M (M <= kGemvTileM); w rows are
// ldw elements apart. In gemv_avx2.cpp.
void gemv_f32_avx2(const float* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                   int64_t M, int64_t K, float* y, int64_t ldy);
void gemv_f16_avx2(const uint16_t* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                   int64_t M, int64_t K, float* y, int64_t ldy);

}  // namespace packinfer::gemm
