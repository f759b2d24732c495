#pragma once
// One table of kernels per instruction-set level: every kernel family the model uses, as plain
// function pointers. The drivers (GEMM blocking, GEMV threading, attention and element-wise
// dispatch) take a table, never a flag, so adding a kernel for a level is one function in that
// level's folder and one line in its table file (table_<level>.cpp):
//
//   scalar       table_scalar.cpp       every entry: the reference definitions
//   avx2         table_avx2.cpp         starts as a copy of scalar, overrides what it has
//   avx512       table_avx512.cpp       starts as a copy of avx2, ...
//   avx512_vnni  table_avx512_vnni.cpp  a copy of avx512, VPDPBUSD integer dots
//   amx          (kernel_table.cpp)     a copy of avx512_vnni (nothing of its own yet)
//
// so a level without a kernel of its own for an entry runs the next lower level's. The table
// files are compiled for the baseline ISA (they only take addresses); the kernels themselves are
// in src/kernels/<level>/, compiled with that level's flags and only ever reached through
// kernels_for(level) after the level is known to run here.
#include <cstdint>

#include "gguf/ggml_types.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/isa.h"
#include "kernels/kv_codecs.h"
#include "kernels/type_kernels.h"

namespace packinfer {

// Register tile of a GEMM micro-kernel and its B-panel packer; the blocked GEMM driver
// (gemm.cpp) adapts its blocking to mr, nr and kc.
struct GemmKernel {
  int mr = 0;      // rows of x per tile (<= kGemmMaxMR)
  int nr = 0;      // weight rows (output columns) per tile (<= kGemmMaxNR)
  int64_t kc = 0;  // target K block: an nr x kc panel of B should stay in L1
  // c[i*ldc + j] (+)= sum_k a[i*lda + k] * b[k*nr + j] for i < mr, j < nr. `a` rows are read in
  // place (x is not packed: its rows are contiguous and reused from L1/L2 anyway).
  void (*micro)(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                bool accumulate) = nullptr;
  // Interleaves nr rows of kc floats into the panel layout dst[k*nr + j] = rows[j][k]; dst is
  // 64-byte aligned.
  void (*pack_b)(const float* const* rows, int64_t kc, float* dst) = nullptr;
};
inline constexpr int kGemmMaxMR = 16;
inline constexpr int kGemmMaxNR = 64;

// Int8 GEMM tile (prefill with quantized weights, layouts in gemm_int8_layout.h): for rows i <
// `rows` (<= kGemmI8MaxMR) of x, quantized as `nblocks` ActU8 blocks per row, row i at
// act + i * act_stride bytes, and the `nblocks` PanelBlockI8 blocks of one panel:
// y[i*ldy + j] = sum over the blocks for j < cols (<= kGemmI8NR); y outside is untouched.
using GemmI8MicroFn = void (*)(int64_t nblocks, const void* act, int64_t act_stride, int rows,
                               const void* panel, float* y, int64_t ldy, int cols);

// Decode GEMV tile: y[m*ldy + r] = dot(w row r, x row m) for r < n_rows, m < M (M <= 8); w rows
// are ldw elements apart.
using GemvF32Fn = void (*)(const float* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                           int64_t M, int64_t K, float* y, int64_t ldy);
using GemvF16Fn = void (*)(const uint16_t* w, int64_t ldw, int64_t n_rows, const float* x,
                           int64_t ldx, int64_t M, int64_t K, float* y, int64_t ldy);

// Panel GEMM tile (weight_panels.h): y[i*ldy + j] (+)= sum over k < kc of x[i*ldx + k] *
// W(j, k) for i < rows, j < cols, each sum taken along k in order; with accumulate the block's
// sum is added to y afterwards. y outside is untouched. W(j, k) is panel[k*32 + j] for j < 32
// and, when cols > 32 (two panels at once, rows <= kPanelPairMaxRows), panel[stride + k*32 + j -
// 32] for 32 <= j < 64. Otherwise rows <= kPanelMaxRows and cols <= 32.
using PanelF16Fn = void (*)(const uint16_t* panel, int64_t stride, int64_t kc, const float* x,
                            int64_t ldx, int rows, float* y, int64_t ldy, int cols,
                            bool accumulate);
inline constexpr int kPanelMaxRows = 14;
inline constexpr int kPanelPairMaxRows = 6;
// The same over Q8_0 panels, one panel (cols <= 32) and kc a multiple of 32: panel points at a
// block of the layout in weight_panels.h, and W(j, k) is its scale j times its int8 value (k, j),
// exactly the dequantized weight.
using PanelQ8Fn = void (*)(const uint8_t* panel, int64_t kc, const float* x, int64_t ldx, int rows,
                           float* y, int64_t ldy, int cols, bool accumulate);
using AttentionFn = void (*)(const AttentionShape&, const KvLayerView&, const AttentionItem&);
using RmsNormFn = void (*)(const float* x, const float* w, float* y, int64_t n_rows, int64_t n,
                           float eps);
using RopeFn = void (*)(float* x, int64_t n_tokens, int64_t stride, int32_t n_heads,
                        int32_t head_dim, const int32_t* pos, float freq_base, RopeStyle style);
using SwigluFn = void (*)(const float* gate, const float* up, float* out, int64_t n);
using AddInplaceFn = void (*)(float* y, const float* x, int64_t n);

// ggml type ids below this have a slot in the table (TQ2_0 = 35 is the largest known).
inline constexpr uint32_t kTypeSlots = 36;
// KV cache formats, indexed by KvType (kv/kv_format.h).
inline constexpr int kKvTypeSlots = 7;

struct KernelTable {
  Isa isa = Isa::Scalar;

  GemmKernel gemm;
  // Native GEMV tiles for F32 and F16 weights, nullptr when the level has none (then the GEMV
  // uses the type's dot, and hands every M > 8 to the GEMM).
  GemvF32Fn gemv_f32 = nullptr;
  GemvF16Fn gemv_f16 = nullptr;
  // Int8 GEMM tile, nullptr when the level has none worth using (then prefill with quantized
  // weights runs the f32 GEMM on dequantized panels).
  GemmI8MicroFn gemm_i8 = nullptr;
  // Panel GEMM tiles for F16 and Q8_0 weights repacked at load, nullptr when the level has none
  // (then the model keeps only the GGUF rows and those products take the paths above).
  PanelF16Fn gemm_panel_f16 = nullptr;
  PanelQ8Fn gemm_panel_q8_0 = nullptr;

  // Per weight type, indexed by ggml type id; an entry with dequant == nullptr is unsupported.
  TypeKernels types[kTypeSlots];

  // Used for shapes with head_dim % attention_head_dim_multiple == 0 and head_dim <=
  // attention_max_head_dim; attention_with() runs the scalar kernel for any other shape.
  AttentionFn attention = nullptr;
  int32_t attention_head_dim_multiple = 1;
  int32_t attention_max_head_dim = INT32_MAX;

  // KV cache codecs per format: keys (KIVI per channel) and values (everything per position).
  KvCodec kv_key[kKvTypeSlots];
  KvCodec kv_value[kKvTypeSlots];
  KvRotateRowsFn kv_rotate_rows = nullptr;  // keys stored before RoPE

  RmsNormFn rms_norm = nullptr;
  RopeFn rope = nullptr;
  SwigluFn swiglu = nullptr;
  AddInplaceFn add_inplace = nullptr;

  // Kernels for weight type t, nullptr when this table cannot compute with t.
  const TypeKernels* type(GgmlType t) const {
    const auto id = static_cast<uint32_t>(t);
    return id < kTypeSlots && types[id].dequant != nullptr ? &types[id] : nullptr;
  }
  TypeKernels& type_slot(GgmlType t) { return types[static_cast<uint32_t>(t)]; }
};

// The table of a level. Any level can be looked up, but its kernels may only be called when
// isa_supported(isa) (isa_select.h): tests and benchmarks choose levels this way.
const KernelTable& kernels_for(Isa isa);

// The table of active_isa(): what the model runs. The first call makes the choice (and throws
// packinfer::Error for an invalid PACKINFER_ISA).
const KernelTable& active_kernels();

// Fill in the entries a level has of its own (table_<level>.cpp); kernel_table.cpp layers them.
void add_scalar_kernels(KernelTable& t);
void add_avx2_kernels(KernelTable& t);
void add_avx512_kernels(KernelTable& t);
void add_avx512_vnni_kernels(KernelTable& t);

}  // namespace packinfer
