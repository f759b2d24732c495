#pragma once
// Internals of matmul(): the blocked GEMM driver and the GEMV driver. Both take the kernels of
// one instruction-set level (kernel_table.h) and only do loops, blocking and threading.
//
// Rule for the kernels: the SIMD translation units (src/kernels/<level>/) take only raw pointers
// and plain structs, so no inline library code (std::function, std::vector, ...) is ever
// instantiated with AVX flags and then shared with the baseline build through the linker; and
// they are reached only through a kernel table once the level is known to run.
#include <cstdint>

#include "kernels/kernel_table.h"
#include "kernels/matmul.h"

namespace packinfer::gemm {

// Blocked GEMM over any weight type: weight panels are dequantized with tk->dequant once per
// (panel, K block), packed by kern.pack_b and reused for every row of x.
void gemm_blocked(const GemmKernel& kern, const TypeKernels* tk, const WeightMatrix& w,
                  const float* x, int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool);

// Small-M path: every weight row is streamed from memory once for all M rows of x, which the
// kernels take in groups of up to kGemvTileM vectors.
constexpr int64_t kGemvTileM = 8;
// Largest M for which matmul uses the GEMV rather than the blocked GEMM.
int64_t gemv_max_m(const KernelTable& kt, GgmlType t);
void gemv(const KernelTable& kt, const TypeKernels* tk, const WeightMatrix& w, const float* x,
          int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool);

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
