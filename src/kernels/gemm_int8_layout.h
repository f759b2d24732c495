#pragma once
// Data layouts of the int8 GEMM (prefill with quantized weights and int8 activations, see
// GemmInt8Kernel in kernel_table.h). Shared by the scalar reference, the SIMD micro-kernels and
// the driver (gemm_int8.cpp); not a file format.
//
// Activations: each row of x is cut into blocks of 32 and rounded to int8 q = round(x / d) with
// d = amax / 127 (so |q| <= 127), stored offset by 128 as unsigned bytes: VPDPBUSD multiplies
// unsigned by signed bytes, and the offset is taken off again per weight block (corr below).
//
// Weights: a panel of kGemmI8NR weight rows (output columns) is unpacked once, for all rows of x,
// into blocks of 32 k: every weight type's block of 32 becomes signed bytes q with
// w = d * q - m (Q8_0: q, Q4_0: nibble - 8, Q5_0: q - 16, Q4_K/Q5_K: the unsigned sub-block
// values with d = d * scale, m = dmin * min). The bytes are interleaved so one 64-byte load
// holds 4 consecutive k of all 16 columns: q[g][j][e] = q of column j at k = 4g + e.
#include <cstdint>

namespace packinfer {

inline constexpr int kGemmI8Block = 32;
inline constexpr int kGemmI8NR = 16;
inline constexpr int kGemmI8MaxMR = 8;

struct ActU8 {
  float d;     // x ~= d * (qs - 128)
  float dsum;  // d * sum(qs - 128): what a weight offset m costs this block (m * dsum)
  uint8_t qs[kGemmI8Block];
};
static_assert(sizeof(ActU8) == 40);

// One block of 32 k of a panel of kGemmI8NR columns. For row i of x and column j:
//   sum_k w_jk x_ik = dx_i * (d[j] * (corr[j] + sum_k q[.][j][.] * qs_ik) - m[j] * sum_k
//   (qs_ik-128))
// with corr[j] = -128 * sum_k q_jk.
struct alignas(64) PanelBlockI8 {
  int8_t q[kGemmI8Block / 4][kGemmI8NR][4];
  float d[kGemmI8NR];
  int32_t corr[kGemmI8NR];
  float m[kGemmI8NR];
};
static_assert(sizeof(PanelBlockI8) == 704);

}  // namespace packinfer
