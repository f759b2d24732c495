// The int8 GEMM's scalar parts (layouts: gemm_int8_layout.h): the activation quantizer and the
// weight panel packers, which every level shares, and the reference micro-kernel.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/gemm_int8_layout.h"
#include "kernels/quant_blocks.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {

void quantize_act_u8(const float* x, void* act, int64_t n) {
  ActU8* a = static_cast<ActU8*>(act);
  for (int64_t b = 0; b < n / kGemmI8Block; ++b, x += kGemmI8Block) {
    float amax = 0;
    for (int k = 0; k < kGemmI8Block; ++k) amax = std::max(amax, std::fabs(x[k]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int k = 0; k < kGemmI8Block; ++k) {
      const int q = static_cast<int>(std::nearbyint(x[k] * id));
      sum += q;
      a[b].qs[k] = static_cast<uint8_t>(q + 128);
    }
    a[b].d = d;
    a[b].dsum = d * static_cast<float>(sum);
  }
}

namespace {

// One block of 32 of one weight row: w = d * q - m.
struct Unpacked {
  int8_t q[kGemmI8Block];
  float d = 0, m = 0;
};

// Block b (of 32) of a row of each type.
void unpack_q8_0(const void* row, int64_t b, Unpacked& u) {
  const BlockQ8_0& blk = static_cast<const BlockQ8_0*>(row)[b];
  std::memcpy(u.q, blk.qs, 32);
  u.d = fp16_to_fp32(blk.d);
}

void unpack_q4_0(const void* row, int64_t b, Unpacked& u) {
  const BlockQ4_0& blk = static_cast<const BlockQ4_0*>(row)[b];
  for (int j = 0; j < 16; ++j) {
    u.q[j] = static_cast<int8_t>((blk.qs[j] & 0xF) - 8);
    u.q[j + 16] = static_cast<int8_t>((blk.qs[j] >> 4) - 8);
  }
  u.d = fp16_to_fp32(blk.d);
}

void unpack_q5_0(const void* row, int64_t b, Unpacked& u) {
  const BlockQ5_0& blk = static_cast<const BlockQ5_0*>(row)[b];
  uint32_t qh;
  std::memcpy(&qh, blk.qh, 4);
  for (int j = 0; j < 16; ++j) {
    u.q[j] = static_cast<int8_t>(((blk.qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16);
    u.q[j + 16] = static_cast<int8_t>(((blk.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
  }
  u.d = fp16_to_fp32(blk.d);
}

// Q4_K / Q5_K: block b of 32 is sub-block b % 8 of super-block b / 8.
void unpack_q4_k(const void* row, int64_t b, Unpacked& u) {
  const BlockQ4_K& blk = static_cast<const BlockQ4_K*>(row)[b / 8];
  const int j = static_cast<int>(b % 8), p = j / 2;
  uint8_t sc, mn;
  k4_scale_min(j, blk.scales, &sc, &mn);
  for (int l = 0; l < 32; ++l) {
    const uint8_t v = blk.qs[32 * p + l];
    u.q[l] = static_cast<int8_t>((j & 1) ? v >> 4 : v & 0xF);
  }
  u.d = fp16_to_fp32(blk.d) * sc;
  u.m = fp16_to_fp32(blk.dmin) * mn;
}

void unpack_q5_k(const void* row, int64_t b, Unpacked& u) {
  const BlockQ5_K& blk = static_cast<const BlockQ5_K*>(row)[b / 8];
  const int j = static_cast<int>(b % 8), p = j / 2;
  uint8_t sc, mn;
  k4_scale_min(j, blk.scales, &sc, &mn);
  for (int l = 0; l < 32; ++l) {
    const uint8_t v = blk.qs[32 * p + l];
    const int lo4 = (j & 1) ? v >> 4 : v & 0xF;
    u.q[l] = static_cast<int8_t>(lo4 | (((blk.qh[l] >> j) & 1) << 4));
  }
  u.d = fp16_to_fp32(blk.d) * sc;
  u.m = fp16_to_fp32(blk.dmin) * mn;
}

template <void (*Unpack)(const void*, int64_t, Unpacked&)>
void pack_panel(const void* const* rows, int rows_count, int64_t nblocks, void* panel) {
  PanelBlockI8* out = static_cast<PanelBlockI8*>(panel);
  for (int64_t b = 0; b < nblocks; ++b) {
    PanelBlockI8& p = out[b];
    for (int j = 0; j < kGemmI8NR; ++j) {
      Unpacked u;
      if (j < rows_count) {
        Unpack(rows[j], b, u);
      } else {
        std::memset(u.q, 0, sizeof u.q);
      }
      int sum = 0;
      for (int k = 0; k < kGemmI8Block; ++k) {
        p.q[k / 4][j][k % 4] = u.q[k];
        sum += u.q[k];
      }
      p.d[j] = u.d;
      p.m[j] = u.m;
      p.corr[j] = -128 * sum;
    }
  }
}

}  // namespace

void pack_i8_q8_0(const void* const* rows, int n, int64_t nb, void* panel) {
  pack_panel<unpack_q8_0>(rows, n, nb, panel);
}
void pack_i8_q4_0(const void* const* rows, int n, int64_t nb, void* panel) {
  pack_panel<unpack_q4_0>(rows, n, nb, panel);
}
void pack_i8_q5_0(const void* const* rows, int n, int64_t nb, void* panel) {
  pack_panel<unpack_q5_0>(rows, n, nb, panel);
}
void pack_i8_q4_k(const void* const* rows, int n, int64_t nb, void* panel) {
  pack_panel<unpack_q4_k>(rows, n, nb, panel);
}
void pack_i8_q5_k(const void* const* rows, int n, int64_t nb, void* panel) {
  pack_panel<unpack_q5_k>(rows, n, nb, panel);
}

void gemm_i8_micro_scalar(int64_t nblocks, const void* act, int64_t act_stride, int rows,
                          const void* panel, float* y, int64_t ldy, int cols) {
  const PanelBlockI8* p = static_cast<const PanelBlockI8*>(panel);
  for (int i = 0; i < rows; ++i) {
    const ActU8* a =
        reinterpret_cast<const ActU8*>(static_cast<const uint8_t*>(act) + i * act_stride);
    float f[kGemmI8NR] = {};
    for (int64_t b = 0; b < nblocks; ++b) {
      for (int j = 0; j < kGemmI8NR; ++j) {
        int32_t s = p[b].corr[j];
        for (int k = 0; k < kGemmI8Block; ++k) s += a[b].qs[k] * p[b].q[k / 4][j][k % 4];
        f[j] += static_cast<float>(s) * (p[b].d[j] * a[b].d);
        f[j] -= p[b].m[j] * a[b].dsum;
      }
    }
    for (int j = 0; j < cols; ++j) y[i * ldy + j] = f[j];
  }
}

}  // namespace packinfer
