#pragma once
// The kernels of the avx512_vnni level (avx512 + AVX-512 VNNI + AVX-512 BF16), defined in
// src/kernels/avx512_vnni/ and put into the level's table by table_avx512_vnni.cpp. Everything
// else at this level is inherited from avx512. Raw pointers only (see matmul_internal.h).
#include <cstdint>

namespace packinfer {

// Integer dot path (TypeKernels::dot_act) with VPDPBUSD: u8 x s8 products summed four at a time
// straight into i32 lanes, one instruction where AVX2 needs maddubs + madd. The K-quants keep the
// avx2 kernels: their sub-block scales are applied by the madd that VPDPBUSD would replace, so
// VNNI would need a 32-bit multiply per sub-block instead.
float dot_act_q8_0_vnni(const void* w, const void* act, int64_t n);
float dot_act_q4_0_vnni(const void* w, const void* act, int64_t n);
float dot_act_q5_0_vnni(const void* w, const void* act, int64_t n);

// Int8 GEMM tile, up to 8 rows x 16 columns (kernel_table.h GemmI8MicroFn).
void gemm_i8_micro_vnni(int64_t nblocks, const void* act, int64_t act_stride, int rows,
                        const void* panel, float* y, int64_t ldy, int cols);

}  // namespace packinfer
