#pragma once
// The row loop shared by the GEMV tiles of every instruction-set level (avx2/gemv_avx2.cpp,
// avx512/gemv_avx512.cpp): R weight rows at a time against M = MB1 + MB2 vectors of x, as two
// tiles, the second re-reading the R rows from L1 rather than memory; rows left over go one at a
// time. `Tiles::run<RR, MB>(w, ldw, x, ldx, K, y, ldy, pf)` is the level's tile; pf, if not
// null, is the next block of rows, to prefetch. Included only by those .cpp files: the
// anonymous namespace gives each level its own copy, compiled with its own flags.
#include <cstdint>

namespace packinfer {
namespace {

template <class Tiles, int R, int MB1, int MB2, class W>
void rows_split(const W* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx, int64_t K,
                float* y, int64_t ldy) {
  auto run = [&]<int RR>(int64_t r) {
    const W* pf = r + RR + R <= n_rows ? w + (r + RR) * ldw : nullptr;
    Tiles::template run<RR, MB1>(w + r * ldw, ldw, x, ldx, K, y + r, ldy, pf);
    if constexpr (MB2 > 0) {
      Tiles::template run<RR, MB2>(w + r * ldw, ldw, x + MB1 * ldx, ldx, K, y + r + MB1 * ldy, ldy,
                                   static_cast<const W*>(nullptr));
    }
  };
  int64_t r = 0;
  for (; r + R <= n_rows; r += R) run.template operator()<R>(r);
  for (; r < n_rows; ++r) run.template operator()<1>(r);
}

}  // namespace
}  // namespace packinfer
