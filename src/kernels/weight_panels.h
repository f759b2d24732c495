#pragma once
// F16 and Q8_0 weights repacked once, at model load, into k-major panels for the panel GEMM
// (panel_gemm.cpp). Panel p holds weight rows [32p, 32p + 32), rows past N zero:
//  - F16: for each k in order, the 32 values W[32p + j][k] side by side (one 64-byte line);
//  - Q8_0: for each block of 32 k, the 32 rows' f16 scales (64 bytes), then for each k of the
//    block the 32 rows' int8 values side by side (32 lines of 32 bytes): 1088 bytes, as many as
//    the 32 rows' GGUF blocks.
// A tile then loads one line per k, converts it to two vectors of f32 (times the scales for Q8_0,
// exactly as dequantizing does) and multiplies it with a broadcast element of each x row: no
// horizontal sums, no per-call packing, and every output is summed along k in order, whatever M
// is, so the product is batch-invariant.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "kernels/matmul.h"

namespace packinfer {

inline constexpr int64_t kPanelWidth = 32;

inline constexpr int64_t kQ8PanelBlockBytes = 64 + 32 * 32;  // scales, then 32 lines

// Whether w's type has a panel layout (F16, Q8_0).
bool has_panel_layout(const WeightMatrix& w);
// Bytes of w's panels (N rounded up to whole panels); a multiple of 64.
int64_t panel_bytes(const WeightMatrix& w);

// Memory for panels: an anonymous map aligned to 2 MiB and advised to use transparent huge pages.
// A model's panels are hundreds of MB streamed every step; with 4 KiB pages they would cost a page
// fault per 4 KiB at load and TLB misses at every step. A loader allocates one block for all of a
// model's matrices (one matrix is often under 2 MiB).
std::shared_ptr<uint16_t[]> allocate_panel_memory(int64_t bytes);

// Writes w's panels to dst (panel_bytes(w) bytes, 64-byte aligned); has_panel_layout(w) must
// hold. `consumed`, if set, is told each range of source bytes once it has been copied (a loader
// releases the file pages as it goes).
void pack_panels_into(const WeightMatrix& w, void* dst,
                      const std::function<void(const void*, size_t)>& consumed = {});

// One matrix's panels in memory of their own (tests, benchmarks).
struct Panels {
  std::shared_ptr<uint16_t[]> data;
  int64_t bytes = 0;
};
Panels pack_panels(const WeightMatrix& w);

// K block of the panel GEMM: at most 4096, balanced over the blocks (4864 -> 2 x 2432), and fixed
// by K alone so the order of every sum is too. Blocks are long on purpose: with a few rows of x
// (decode) a panel is a stream from memory, and 192-value blocks (to keep a slice in L1) made
// 8-row decode steps 20% slower; with many rows the tile's one 64-byte line per 28 FMAs is cheap
// to take from L2.
// Q8_0 blocks are whole: the block is rounded up to a multiple of 32 (`align`).
int64_t panel_kc(int64_t K, int64_t align = 1);

}  // namespace packinfer
