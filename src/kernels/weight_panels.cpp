#include "kernels/weight_panels.h"

#include <emmintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>

#include "kernels/quant_blocks.h"

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

// Calls `consumed` about every kReportRows rows of source copied, and at the end.
class ConsumedReporter {
 public:
  ConsumedReporter(const WeightMatrix& w, const std::function<void(const void*, size_t)>& consumed)
      : w_(w), consumed_(consumed) {}
  void rows_done(int64_t done) {
    if (consumed_ && (done - reported_ >= kReportRows || done == w_.rows)) {
      consumed_(w_.row(reported_), static_cast<size_t>((done - reported_) * w_.row_bytes));
      reported_ = done;
    }
  }

 private:
  static constexpr int64_t kReportRows = 2048;
  const WeightMatrix& w_;
  const std::function<void(const void*, size_t)>& consumed_;
  int64_t reported_ = 0;
};

// A 16x16 byte transpose: x[i] holds row i on entry and column i on return. Four perfect
// shuffles (interleaving rows i and i + 8) transpose 16 rows of 16 bytes (SSE2).
void transpose16x16_u8(__m128i x[16]) {
  for (int round = 0; round < 4; ++round) {
    __m128i y[16];
    for (int i = 0; i < 8; ++i) {
      y[2 * i] = _mm_unpacklo_epi8(x[i], x[i + 8]);
      y[2 * i + 1] = _mm_unpackhi_epi8(x[i], x[i + 8]);
    }
    for (int i = 0; i < 16; ++i) x[i] = y[i];
  }
}

// Block b of a full panel whose 32 source rows are src[0..32): the 32 scales, then the 32 k-lines
// of 32 int8, as four 16x16 transposes.
void pack_q8_0_block(const BlockQ8_0* const* src, int64_t b, uint8_t* blk) {
  for (int64_t j = 0; j < kPanelWidth; ++j) std::memcpy(blk + j * 2, &src[j][b].d, 2);
  for (int j0 = 0; j0 < kPanelWidth; j0 += 16) {
    for (int k0 = 0; k0 < 32; k0 += 16) {
      __m128i x[16];
      for (int i = 0; i < 16; ++i)
        x[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[j0 + i][b].qs + k0));
      transpose16x16_u8(x);
      for (int c = 0; c < 16; ++c)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(blk + 64 + (k0 + c) * 32 + j0), x[c]);
    }
  }
}

void pack_q8_0_panels_into(const WeightMatrix& w, uint8_t* p,
                           const std::function<void(const void*, size_t)>& consumed) {
  const int64_t n_panels = (w.rows + kPanelWidth - 1) / kPanelWidth;
  const int64_t nb = w.cols / 32;
  ConsumedReporter report(w, consumed);
  for (int64_t pn = 0; pn < n_panels; ++pn) {
    uint8_t* panel = p + pn * nb * kQ8PanelBlockBytes;
    const int64_t r0 = pn * kPanelWidth;
    const int64_t rows = std::min(kPanelWidth, w.rows - r0);
    const BlockQ8_0* src[kPanelWidth];
    for (int64_t j = 0; j < rows; ++j) src[j] = static_cast<const BlockQ8_0*>(w.row(r0 + j));
    if (rows == kPanelWidth) {
      for (int64_t b = 0; b < nb; ++b) pack_q8_0_block(src, b, panel + b * kQ8PanelBlockBytes);
    } else {  // the last, partial panel: rows past N multiply as zeros
      std::memset(panel, 0, static_cast<size_t>(nb * kQ8PanelBlockBytes));
      for (int64_t j = 0; j < rows; ++j) {
        for (int64_t b = 0; b < nb; ++b) {
          uint8_t* blk = panel + b * kQ8PanelBlockBytes;
          std::memcpy(blk + j * 2, &src[j][b].d, 2);
          for (int k = 0; k < 32; ++k) blk[64 + k * 32 + j] = static_cast<uint8_t>(src[j][b].qs[k]);
        }
      }
    }
    report.rows_done(r0 + rows);
  }
}

void pack_f16_panels_into(const WeightMatrix& w, uint16_t* p,
                          const std::function<void(const void*, size_t)>& consumed) {
  const int64_t n_panels = (w.rows + kPanelWidth - 1) / kPanelWidth;
  ConsumedReporter report(w, consumed);
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
    report.rows_done(r0 + rows);
  }
}

}  // namespace

// Panels live in their own anonymous mapping, aligned to 2 MiB and advised to use huge pages
// (see the header).
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

bool has_panel_layout(const WeightMatrix& w) {
  return w.type == GgmlType::F16 || (w.type == GgmlType::Q8_0 && w.cols % 32 == 0);
}

int64_t panel_bytes(const WeightMatrix& w) {
  const int64_t n_panels = (w.rows + kPanelWidth - 1) / kPanelWidth;
  if (w.type == GgmlType::Q8_0) return n_panels * (w.cols / 32) * kQ8PanelBlockBytes;
  return n_panels * kPanelWidth * w.cols * static_cast<int64_t>(sizeof(uint16_t));
}

Panels pack_panels(const WeightMatrix& w) {
  Panels out;
  out.bytes = panel_bytes(w);
  out.data = allocate_panel_memory(out.bytes);
  pack_panels_into(w, out.data.get());
  return out;
}

void pack_panels_into(const WeightMatrix& w, void* dst,
                      const std::function<void(const void*, size_t)>& consumed) {
  if (w.type == GgmlType::F16)
    return pack_f16_panels_into(w, static_cast<uint16_t*>(dst), consumed);
  pack_q8_0_panels_into(w, static_cast<uint8_t*>(dst), consumed);
}

int64_t panel_kc(int64_t K, int64_t align) {
  constexpr int64_t kTarget = 4096;
  const int64_t blocks = std::max<int64_t>(1, (K + kTarget - 1) / kTarget);
  const int64_t kc = (K + blocks - 1) / blocks;
  return (kc + align - 1) / align * align;
}

}  // namespace packinfer
