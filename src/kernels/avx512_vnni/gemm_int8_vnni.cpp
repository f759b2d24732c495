// AVX-512 VNNI tile of the int8 GEMM (layouts: gemm_int8_layout.h): up to 8 rows of x by the 16
// columns of one panel. Per block of 32 k and row: 8 VPDPBUSD (4 bytes of x broadcast against
// 4 k of all 16 columns), then one convert and two FMAs to apply the block scales and the
// weight offsets. Compiled with the avx512_vnni flags; reached only through
// kernels_for(Isa::Avx512Vnni) and above.
#include <immintrin.h>

// GCC 12's AVX-512 extracts and conversions start from _mm512_undefined_*(), which
// -Wmaybe-uninitialized (and, inlined here, -Wuninitialized) reports as used uninitialized (a
// false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/avx512_vnni/avx512_vnni_kernels.h"
#include "kernels/gemm_int8_layout.h"

namespace packinfer {
namespace {

template <int MR>
void micro(int64_t nblocks, const uint8_t* act, int64_t act_stride, const PanelBlockI8* p, float* y,
           int64_t ldy, int cols) {
  __m512 f[MR];
  const ActU8* a[MR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    f[i] = _mm512_setzero_ps();
    a[i] = reinterpret_cast<const ActU8*>(act + i * act_stride);
  }
  for (int64_t b = 0; b < nblocks; ++b, ++p) {
    const __m512i corr = _mm512_load_si512(p->corr);
    __m512i s[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) s[i] = corr;
#pragma GCC unroll 8
    for (int g = 0; g < kGemmI8Block / 4; ++g) {
      const __m512i w = _mm512_load_si512(p->q[g]);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        int32_t x4;
        std::memcpy(&x4, a[i][b].qs + 4 * g, 4);
        s[i] = _mm512_dpbusd_epi32(s[i], _mm512_set1_epi32(x4), w);
      }
    }
    const __m512 dw = _mm512_load_ps(p->d), mw = _mm512_load_ps(p->m);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      f[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[i]), _mm512_mul_ps(dw, _mm512_set1_ps(a[i][b].d)),
                             f[i]);
      f[i] = _mm512_fnmadd_ps(mw, _mm512_set1_ps(a[i][b].dsum), f[i]);
    }
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1);
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) _mm512_mask_storeu_ps(y + i * ldy, mask, f[i]);
}

}  // namespace

void gemm_i8_micro_vnni(int64_t nblocks, const void* act, int64_t act_stride, int rows,
                        const void* panel, float* y, int64_t ldy, int cols) {
  const auto* a = static_cast<const uint8_t*>(act);
  const auto* p = static_cast<const PanelBlockI8*>(panel);
  switch (rows) {
    case 8:
      return micro<8>(nblocks, a, act_stride, p, y, ldy, cols);
    case 7:
      return micro<7>(nblocks, a, act_stride, p, y, ldy, cols);
    case 6:
      return micro<6>(nblocks, a, act_stride, p, y, ldy, cols);
    case 5:
      return micro<5>(nblocks, a, act_stride, p, y, ldy, cols);
    case 4:
      return micro<4>(nblocks, a, act_stride, p, y, ldy, cols);
    case 3:
      return micro<3>(nblocks, a, act_stride, p, y, ldy, cols);
    case 2:
      return micro<2>(nblocks, a, act_stride, p, y, ldy, cols);
    case 1:
      return micro<1>(nblocks, a, act_stride, p, y, ldy, cols);
    default:
      return;
  }
}

}  // namespace packinfer
