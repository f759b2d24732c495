// Int8 GEMM driver (prefill with quantized weights, layouts in gemm_int8_layout.h): every row of
// x is quantized once to int8 blocks, then threads take (panel of 16 weight rows, chunk of x
// rows) tasks: the panel is unpacked to the interleaved int8 layout once per task run and the
// level's tile walks down the x rows 8 at a time.
#include <algorithm>

#include "kernels/gemm_int8_layout.h"
#include "kernels/matmul_internal.h"
#include "kernels/scalar/scalar_kernels.h"
#include "kernels/scratch.h"

namespace packinfer::gemm {
namespace {

// x rows per task: with K = 1536 the int8 rows of a chunk are 256 x 1.9 KB = 480 KB, so they stay
// in L2 while a panel's tile walks down them.
constexpr int64_t kMChunk = 256;

thread_local Scratch t_act, t_panel;

}  // namespace

void gemm_int8(GemmI8MicroFn micro, const TypeKernels* tk, const WeightMatrix& w, const float* x,
               int64_t ldx, int64_t M, float* y, int64_t ldy, ThreadPool& pool) {
  const int64_t K = w.cols, N = w.rows;
  const int64_t nblocks = K / kGemmI8Block;
  const int64_t stride = nblocks * static_cast<int64_t>(sizeof(ActU8));
  auto* act = reinterpret_cast<uint8_t*>(t_act.floats(static_cast<size_t>(M * stride / 4 + 1)));
  pool.parallel_for(M, 16, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) quantize_act_u8(x + m * ldx, act + m * stride, K);
  });
  const int64_t n_panels = ceil_div(N, kGemmI8NR);
  const int64_t m_chunks = ceil_div(M, kMChunk);
  pool.parallel_for(n_panels * m_chunks, 1, [&](int64_t t0, int64_t t1) {
    auto* panel = t_panel.floats(static_cast<size_t>(nblocks * sizeof(PanelBlockI8) / 4));
    int64_t packed = -1;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t p = t / m_chunks, mc = t % m_chunks;
      const int64_t n0 = p * kGemmI8NR;
      const int cols = static_cast<int>(std::min<int64_t>(kGemmI8NR, N - n0));
      if (p != packed) {
        const void* rows[kGemmI8NR];
        for (int j = 0; j < cols; ++j) rows[j] = w.row(n0 + j);
        tk->pack_i8(rows, cols, nblocks, panel);
        packed = p;
      }
      const int64_t m_end = std::min(M, (mc + 1) * kMChunk);
      for (int64_t m = mc * kMChunk; m < m_end; m += kGemmI8MaxMR) {
        const int rows = static_cast<int>(std::min<int64_t>(kGemmI8MaxMR, m_end - m));
        micro(nblocks, act + m * stride, stride, rows, panel, y + m * ldy + n0, ldy, cols);
      }
    }
  });
}

}  // namespace packinfer::gemm
