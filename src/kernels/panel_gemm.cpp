// The panel GEMM driver: F16 and Q8_0 weights repacked at load (weight_panels.h) times any number
// of x rows, on the level's panel tile (kt.gemm_panel_f16, kt.gemm_panel_q8_0). Only loops and
// threading live here.
//
// Order of every sum: K is cut into blocks by panel_kc(K) alone; within a block each output is
// summed along k in order by the tile, and the blocks are added to y in order. Neither M, the
// cut into tiles and work items, nor the number of threads changes that, so a row of x gets the
// same bits alone, in a decode batch or in a 512-token prefill (batch invariance for free).
#include <algorithm>
#include <vector>

#include "kernels/matmul_internal.h"
#include "kernels/weight_panels.h"

namespace packinfer::gemm {
namespace {

// Work items per thread the cut aims for, so a thread slowed by other work on the machine does
// not hold up the call.
constexpr int64_t kPanelItemsPerThread = 6;
// Up to this many rows of x, a product streams its weights from memory (decode): items are runs of
// panels, about kPanelDecodeItemsPerThread of them per thread.
constexpr int64_t kPanelDecodeRows = 8;
constexpr int64_t kPanelDecodeItemsPerThread = 8;

// Panels [p0, p1) of one target against rows [m0, m1) of x.
struct PanelItem {
  int32_t target;
  int64_t p0, p1, m0, m1;
};

void cut_panels(const WeightMatrix& w, int64_t M, int threads, int32_t target,
                std::vector<PanelItem>& out) {
  const int64_t n_panels = ceil_div(w.rows, kPanelWidth);
  const int64_t want =
      (M <= kPanelDecodeRows ? kPanelDecodeItemsPerThread : kPanelItemsPerThread) * threads;
  if (n_panels >= want || M <= kPanelDecodeRows) {
    const int64_t per = ceil_div(n_panels, std::min(want, n_panels));
    for (int64_t p = 0; p < n_panels; p += per)
      out.push_back({target, p, std::min(n_panels, p + per), 0, M});
    return;
  }
  // Few panels (k and v at 192 rows are 6): split the rows of x too, in whole tiles.
  const int64_t m_blocks =
      std::clamp<int64_t>(ceil_div(want, n_panels), 1, ceil_div(M, kPanelMaxRows));
  const int64_t block_m = ceil_div(ceil_div(M, m_blocks), kPanelMaxRows) * kPanelMaxRows;
  for (int64_t m0 = 0; m0 < M; m0 += block_m) {
    for (int64_t p = 0; p < n_panels; ++p)
      out.push_back({target, p, p + 1, m0, std::min(M, m0 + block_m)});
  }
}

void run_panels(const KernelTable& kt, const PanelTarget& t, const float* x, int64_t ldx,
                const PanelItem& it) {
  const WeightMatrix& w = *t.w;
  const bool q8 = w.type == GgmlType::Q8_0;
  const int64_t K = w.cols, kc_max = panel_kc(K, q8 ? 32 : 1);
  // Rows of x in tiles of nearly equal height (16 -> 8 + 8, not 14 + 2).
  const int64_t rows = it.m1 - it.m0;
  const int64_t n_tiles = ceil_div(rows, kPanelMaxRows);
  const int64_t base = rows / n_tiles, extra = rows % n_tiles;
  // Bytes of one panel, and of the panel's part for k in [pc, pc + kc).
  const int64_t stride = q8 ? K / 32 * kQ8PanelBlockBytes : K * kPanelWidth * 2;
  auto offset = [q8](int64_t pc) {
    return q8 ? pc / 32 * kQ8PanelBlockBytes : pc * kPanelWidth * 2;
  };
  // A short F16 tile (decode) takes two panels at a time, for more independent sums per k.
  const int64_t step = !q8 && base + (extra > 0 ? 1 : 0) <= kPanelPairMaxRows ? 2 : 1;
  const auto* base_ptr = static_cast<const uint8_t*>(w.panels);
  for (int64_t pc = 0; pc < K; pc += kc_max) {
    const int64_t kc = std::min(kc_max, K - pc);
    // Every tile of x rows reuses the panel slice from L1 or L2.
    for (int64_t p = it.p0; p < it.p1; p += step) {
      const int64_t np = std::min(step, it.p1 - p);
      const int cols = static_cast<int>(std::min(np * kPanelWidth, w.rows - p * kPanelWidth));
      const uint8_t* panel = base_ptr + p * stride + offset(pc);
      int64_t m = it.m0;
      for (int64_t i = 0; i < n_tiles; ++i) {
        const int h = static_cast<int>(base + (i < extra ? 1 : 0));
        float* y = t.y + m * t.ldy + p * kPanelWidth;
        if (q8) {
          kt.gemm_panel_q8_0(panel, kc, x + m * ldx + pc, ldx, h, y, t.ldy, cols, pc > 0);
        } else {
          kt.gemm_panel_f16(reinterpret_cast<const uint16_t*>(panel), stride / 2, kc,
                            x + m * ldx + pc, ldx, h, y, t.ldy, cols, pc > 0);
        }
        m += h;
      }
    }
  }
}

}  // namespace

void panel_gemm(const KernelTable& kt, std::span<const PanelTarget> targets, const float* x,
                int64_t ldx, int64_t M, ThreadPool& pool) {
  if (M <= 0) return;
  // Reused across calls (a step makes hundreds); only the calling thread plans.
  thread_local std::vector<PanelItem> items;
  items.clear();
  for (size_t t = 0; t < targets.size(); ++t)
    cut_panels(*targets[t].w, M, pool.size(), static_cast<int32_t>(t), items);
  // The workers must read this thread's plan, not their own (empty) thread_local vector.
  const PanelItem* plan = items.data();
  pool.parallel_for(static_cast<int64_t>(items.size()), 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      run_panels(kt, targets[static_cast<size_t>(plan[i].target)], x, ldx, plan[i]);
  });
}

}  // namespace packinfer::gemm
