#include "kernels/weight_panels.h"

#include <emmintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>

namespace packinfer {
namespace {

// Columns [k, k + 8) of rows src[0..8) into 8 runs of 8 values, run i at dst + i * kPanelWidth
// (SSE2: part of the x86-64 baseline).
void transpose8x8(const uint16_t* const* src, int64_t k, uint16_t* dst) {
  __m128i a[8];
  for (int i = 0; i < 8; ++i) a[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[i] + k));
  const __m128i t0 = _mm_unpacklo_epi16(a[0], a[1]), t1 = _mm_unpackhi_epi16(a[0], a[1]);
  const __m128i t2 = _mm_unpacklo_epi16(a[2], a[3]), t3 = _mm_unpackhi_epi16(a[2], a[3]);
  const __m128i t4 = _mm_unpacklo_epi16(a[4], a[5]), t5 = _mm_unpackhi_epi16(a[4], a[5]);
  const __m128i t6 = _mm_unpacklo_epi16(a[6], a[7]), t7 = _mm_unpackhi_epi16(a[6], a[7]);
  const __m128i u0 = _mm_unpacklo_epi32(t0, t2), u1 = _mm_unpackhi_epi32(t0, t2);
  const __m128i u2 = _mm_unpacklo_epi32(t1, t3), u3 = _mm_unpackhi_epi32(t1, t3);
  const __m128i u4 = _mm_unpacklo_epi32(t4, t6), u5 = _mm_unpackhi_epi32(t4, t6);
  const __m128i u6 = _mm_unpacklo_epi32(t5, t7), u7 = _mm_unpackhi_epi32(t5, t7);
  const __m128i r[8] = {_mm_unpacklo_epi64(u0, u4), _mm_unpackhi_epi64(u0, u4),
                        _mm_unpacklo_epi64(u1, u5), _mm_unpackhi_epi64(u1, u5),
                        _mm_unpacklo_epi64(u2, u6), _mm_unpackhi_epi64(u2, u6),
                        _mm_unpacklo_epi64(u3, u7), _mm_unpackhi_epi64(u3, u7)};
  for (int i = 0; i < 8; ++i)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i * kPanelWidth), r[i]);
}

// Panels live in their own anonymous mapping, aligned to 2 MiB and advised to use huge pages:
// a model's panels are hundreds of MB read in long streams every step, and 4 KiB pages would cost
// a page fault per 4 KiB at load and TLB misses at every step.
}  // namespace

std::shared_ptr<uint16_t[]> allocate_panel_memory(int64_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t want = static_cast<size_t>(std::max<int64_t>(bytes, 64));
  const size_t len = want + kHuge;
  void* base = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) throw std::bad_alloc();
  const auto b = reinterpret_cast<uintptr_t>(base);
  auto* p = reinterpret_cast<uint16_t*>((b + kHuge - 1) / kHuge * kHuge);
  ::madvise(p, want, MADV_HUGEPAGE);  // a hint: without THP the pages are just 4 KiB
  return std::shared_ptr<uint16_t[]>(p, [base, len](uint16_t*) { ::munmap(base, len); });
}

int64_t f16_panel_bytes(const WeightMatrix& w) {
  const int64_t n_panels = (w.rows + kPanelWidth - 1) / kPanelWidth;
  return n_panels * kPanelWidth * w.cols * static_cast<int64_t>(sizeof(uint16_t));
}

F16Panels pack_f16_panels(const WeightMatrix& w) {
  F16Panels out;
  out.bytes = f16_panel_bytes(w);
  out.data = allocate_panel_memory(out.bytes);
  pack_f16_panels_into(w, out.data.get());
  return out;
}

void pack_f16_panels_into(const WeightMatrix& w, uint16_t* p,
                          const std::function<void(const void*, size_t)>& consumed) {
  const int64_t n_panels = (w.rows + kPanelWidth - 1) / kPanelWidth;
  // Source bytes are reported consumed about every kReportRows rows, so a caller that releases
  // them holds at most that much of the source beside the panels.
  constexpr int64_t kReportRows = 2048;
  int64_t reported = 0;
  for (int64_t pn = 0; pn < n_panels; ++pn) {
    uint16_t* dst = p + pn * kPanelWidth * w.cols;
    const int64_t r0 = pn * kPanelWidth;
    const int64_t rows = std::min(kPanelWidth, w.rows - r0);
    const uint16_t* src[kPanelWidth];
    for (int64_t j = 0; j < rows; ++j) src[j] = static_cast<const uint16_t*>(w.row(r0 + j));
    int64_t k = 0;
    if (rows == kPanelWidth) {
      for (; k + 8 <= w.cols; k += 8) {
        for (int64_t g = 0; g < kPanelWidth; g += 8)
          transpose8x8(src + g, k, dst + k * kPanelWidth + g);
      }
    } else {
      std::memset(dst, 0, static_cast<size_t>(kPanelWidth * w.cols) * sizeof(uint16_t));
    }
    for (; k < w.cols; ++k) {
      for (int64_t j = 0; j < rows; ++j) dst[k * kPanelWidth + j] = src[j][k];
    }
    const int64_t done = r0 + rows;
    if (consumed && (done - reported >= kReportRows || done == w.rows)) {
      consumed(w.row(reported), static_cast<size_t>((done - reported) * w.row_bytes));
      reported = done;
    }
  }
}

int64_t panel_kc(int64_t K) {
  constexpr int64_t kTarget = 4096;
  const int64_t blocks = std::max<int64_t>(1, (K + kTarget - 1) / kTarget);
  return (K + blocks - 1) / blocks;
}

}  // namespace packinfer
