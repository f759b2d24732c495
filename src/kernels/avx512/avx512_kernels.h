#pragma once
// The kernels of the avx512 level (AVX-512 F/BW/VL/DQ), defined in src/kernels/avx512/ and put
// into the level's table by table_avx512.cpp. Everything else at this level is inherited from
// avx2. Raw pointers only (see matmul_internal.h).
#include <cstdint>

#include "kernels/attention.h"

namespace packinfer {

// GEMM register tile 14x32 (kernel_table.h, GemmKernel).
void gemm_micro_14x32_avx512(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                             int64_t ldc, bool accumulate);
void gemm_pack_b32_avx512(const float* const* rows, int64_t kc, float* dst);

// Panel GEMM tiles over F16 and Q8_0 panels (kernel_table.h, PanelF16Fn / PanelQ8Fn). The
// layout constants are weight_panels.h's (this header stays free of library code for the SIMD
// translation units); table_avx512.cpp checks that they agree.
constexpr int kPanelMaxRowsAvx512 = 14;
constexpr int kPanelPairMaxRowsAvx512 = 6;
constexpr int kPanelWidthAvx512 = 32;
constexpr int64_t kPanelQ8BlockBytesAvx512 = 64 + 32 * 32;
void gemm_panel_f16_avx512(const uint16_t* panel, int64_t stride, int64_t kc, const float* x,
                           int64_t ldx, int rows, float* y, int64_t ldy, int cols, bool accumulate);
void gemm_panel_q8_0_avx512(const uint8_t* panel, int64_t kc, const float* x, int64_t ldx, int rows,
                            float* y, int64_t ldy, int cols, bool accumulate);

// Dot-product tiles of every f32-activation matmul (kernel_table.h, GemvF32Fn / GemvF16Fn).
void gemv_f32_avx512(const float* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                     int64_t M, int64_t K, float* y, int64_t ldy);
void gemv_f16_avx512(const uint16_t* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                     int64_t M, int64_t K, float* y, int64_t ldy);

// Attention (prefill tiles and decode) for head_dim % 8 == 0 and head_dim <=
// kAttentionMaxHeadDimAvx512; heads that are not a multiple of 16 run attention_avx2.
constexpr int32_t kAttentionMaxHeadDimAvx512 = 256;
void attention_avx512(const AttentionShape& shape, const KvLayerView& kv,
                      const AttentionItem& item);

}  // namespace packinfer
