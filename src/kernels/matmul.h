#pragma once
// y = x · Wᵀ for a weight matrix of any supported type: the one entry point the model uses for
// every linear layer. W has `rows` output features, each a row of `cols` elements stored in the
// weight's own type (GGUF layout: ne[0] = cols, ne[1] = rows). x is [M, cols] f32 row-major and
// y is [M, rows] f32 row-major. Small M (decode, small prefill chunks) runs dot-product tiles
// that stream each weight row once for all M rows; large M (prefill) runs a blocked GEMM that
// dequantizes weight panels to f32 and reuses them across many tokens.
//
// The two sum each output in a different order, so by default a row's last bits depend on how
// many rows share the product. MatmulOrder::BatchInvariant runs every product on the dot-product
// tiles instead (about 8% slower prefill with F32 weights, 25% with quantized ones on Zen 5):
// then a row of x gets the same bits alone, in a decode batch or in a 512-token prefill.
//
// F16 and Q8_0 weights repacked into panels at load (weight_panels.h) take the panel GEMM
// instead, on a level that has its tile (avx512 and up): one kernel for every M, batch-invariant
// by construction; for F16 as fast as the tiles in decode and 17-38% faster than either path at
// 16-64 rows (bench/RESULTS.md).
#include <cstdint>
#include <span>
#include <string_view>

#include "gguf/ggml_types.h"
#include "util/thread_pool.h"

namespace packinfer {

struct KernelTable;

// How the activations meet quantized weights that have an integer path (TypeKernels::dot_act):
// Int8 quantizes each activation row once per product to int8 blocks with their own scales (as
// llama.cpp does) and uses integer dot products; F32 dequantizes the weights and multiplies in
// f32. Default is the process setting: PACKINFER_MATMUL_ACT=f32|int8, f32 when unset
// (int8 is opt-in until a row's result is the same in decode and prefill: issue #9).
enum class MatmulActivations { Default, F32, Int8 };

enum class MatmulOrder { Fastest, BatchInvariant };

// The process setting (PACKINFER_MATMUL_ACT, read once); throws packinfer::Error for a value
// other than "f32", "int8" or empty.
MatmulActivations default_matmul_activations();
// "f32" or "int8"; empty = the process setting. Throws InvalidArgument naming any other value.
MatmulActivations parse_matmul_activations(std::string_view name);
// "f32" or "int8" (Default resolved to the process setting).
const char* matmul_activations_name(MatmulActivations act);

struct WeightMatrix {
  GgmlType type = GgmlType::F32;
  const void* data = nullptr;
  int64_t rows = 0;       // N: output features
  int64_t cols = 0;       // K: input features
  int64_t row_bytes = 0;  // bytes per row in the stored type
  // F16 and Q8_0: the same weights repacked into k-major panels (weight_panels.h), or null. The
  // rows at `data` stay valid (embedding lookups and levels without the panel tile read them).
  const void* panels = nullptr;
  const void* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes; }
};

// y[m, n] = sum_k x[m, k] * W[n, k] for m < M.
void matmul(const WeightMatrix& w, const float* x, int64_t M, float* y, ThreadPool& pool,
            MatmulOrder order = MatmulOrder::Fastest);

// The same with explicit leading dimensions: row m of x starts at x + m * ldx (ldx >= cols) and
// row m of y at y + m * ldy (ldy >= rows), so a layer can read strided activations and write
// straight into a column slice of a wider output. Elements of y outside [0, rows) are untouched.
// Runs the kernels of the active instruction-set level (active_kernels()) on the threads of
// `pool`.
void matmul_ex(const WeightMatrix& w, const float* x, int64_t ldx, int64_t M, float* y, int64_t ldy,
               ThreadPool& pool, MatmulOrder order = MatmulOrder::Fastest);

// One x, several weight matrices with the same cols (q, k and v; gate and up): targets[i].y =
// x · targets[i].wᵀ, with the same bits as matmul_ex per target. Where every product takes the
// dot-product path (decode, small chunks, batch-invariant order) the threads share out the rows
// of all of them in one parallel pass: a small product (k and v at 192 rows) then adds no
// hand-out and wait of its own, which at 8 decode rows are a tenth of the step.
struct MatmulTarget {
  const WeightMatrix* w = nullptr;
  float* y = nullptr;
  int64_t ldy = 0;
};
void matmul_many(std::span<const MatmulTarget> targets, const float* x, int64_t ldx, int64_t M,
                 ThreadPool& pool, MatmulOrder order = MatmulOrder::Fastest);
// The same with a chosen level and activation setting (tests).
void matmul_many_with(const KernelTable& kt, std::span<const MatmulTarget> targets, const float* x,
                      int64_t ldx, int64_t M, ThreadPool& pool,
                      MatmulActivations act = MatmulActivations::Default,
                      MatmulOrder order = MatmulOrder::Fastest);

// matmul_ex with the kernels of a chosen level (tests, benchmarks); the level must run here
// (isa_supported).
void matmul_with(const KernelTable& kt, const WeightMatrix& w, const float* x, int64_t ldx,
                 int64_t M, float* y, int64_t ldy, ThreadPool& pool,
                 MatmulActivations act = MatmulActivations::Default,
                 MatmulOrder order = MatmulOrder::Fastest);

// Whether a product of `w` on the chosen level runs on the panel GEMM, whose speed per row does
// not fall when it is given fewer rows (callers size their mini-sequences by it).
bool runs_on_panels(const KernelTable& kt, const WeightMatrix& w,
                    MatmulActivations act = MatmulActivations::Default);

// Plain reference: dequantize each row with the scalar kernels and accumulate in double.
void matmul_reference(const WeightMatrix& w, const float* x, int64_t M, float* y);

}  // namespace packinfer
