#pragma once
// Internals of matmul(): the blocked GEMM driver and the GEMV driver. Both take the kernels of
// one instruction-set level (kernel_table.h) and only do loops, blocking and threading.
//
// Rule for the kernels: the SIMD translation units (src/kernels/<level>/) take only raw pointers
// and plain structs, so no inline library code (std::function, std::vector, ...) is ever
// instantiated with AVX flags and then shared with the baseline build through the linker; and
// they are reached only through a kernel table once the level is known to run.
#include <cstdint>
#include <span>

#include "kernels/kernel_table.h"
#include "kernels/matmul.h"

namespace packinfer::gemm {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocked GEMM over any weight type: weight panels are dequantized with tk->dequant once per
// (panel, K block), packed by kern.pack_b and reused for every row of x.
void gemm_blocked(const GemmKernel& kern, const TypeKernels* tk, const WeightMatrix& w,
                  const float* x, int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool);

// Dot-product path (row_dots.cpp): each output is one dot product, computed the same way for
// any M by the level's tiles (kt.gemv_f32 / gemv_f16, after dequantizing other types) or, on a
// level without tiles, the type's dot. fused_single_row lets M = 1 with a quantized type use the
// type's fused dot instead (faster decode, different bits from M > 1).
void row_dots(const KernelTable& kt, const TypeKernels* tk, const WeightMatrix& w, const float* x,
              int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool,
              bool fused_single_row);
// row_dots over several products of the same x in one parallel pass (matmul_many): each
// product is cut into the same pieces as alone, and the threads take pieces of any of them.
struct RowDotsTarget {
  const TypeKernels* tk;
  const WeightMatrix* w;
  float* y;
  int64_t ldy;
};
void row_dots_many(const KernelTable& kt, std::span<const RowDotsTarget> targets, const float* x,
                   int64_t ldx, int64_t M, ThreadPool& pool, bool fused_single_row);
// Largest M for which the fastest order uses row_dots rather than the blocked GEMM.
int64_t row_dots_max_m(const KernelTable& kt, GgmlType t);

// Panel GEMM (panel_gemm.cpp): F16 or Q8_0 weights with w->panels != nullptr on a level with the
// type's panel tile, every M, several products of the same x in one parallel pass.
struct PanelTarget {
  const WeightMatrix* w;
  float* y;
  int64_t ldy;
};
void panel_gemm(const KernelTable& kt, std::span<const PanelTarget> targets, const float* x,
                int64_t ldx, int64_t M, ThreadPool& pool);

// Integer path of the small-M product (tk->dot_act != nullptr): each of the M rows of x is
// quantized once (tk->quantize_act), then every weight row is dotted with all of them while it is
// in L1.
constexpr int64_t kGemvInt8MaxM = 8;
void gemv_int8(const TypeKernels* tk, const WeightMatrix& w, const float* x, int64_t ldx, int64_t M,
               float* y, int64_t ldy, ThreadPool& pool);

// Integer path of the large-M product: kt.gemm_i8 != nullptr and tk->pack_i8 != nullptr.
void gemm_int8(GemmI8MicroFn micro, const TypeKernels* tk, const WeightMatrix& w, const float* x,
               int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool);

}  // namespace packinfer::gemm
