#include "grammar/grammar_ir.h"

#include <algorithm>

namespace packinfer::grammar {

std::vector<CodepointRange> normalize_ranges(std::vector<CodepointRange> ranges) {
  // Surrogates cannot appear in UTF-8: cut them out.
  std::vector<CodepointRange> split;
  for (const CodepointRange& r : ranges) {
    if (r.lo > r.hi || r.lo > kMaxCodepoint) continue;
    const uint32_t hi = std::min(r.hi, kMaxCodepoint);
    if (hi < 0xD800 || r.lo > 0xDFFF) {
      split.push_back({r.lo, hi});
      continue;
    }
    if (r.lo < 0xD800) split.push_back({r.lo, 0xD7FF});
    if (hi > 0xDFFF) split.push_back({0xE000, hi});
  }
  std::sort(split.begin(), split.end(),
            [](const CodepointRange& a, const CodepointRange& b) { return a.lo < b.lo; });
  std::vector<CodepointRange> out;
  for (const CodepointRange& r : split) {
    if (!out.empty() && r.lo <= out.back().hi + 1) {
      out.back().hi = std::max(out.back().hi, r.hi);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

std::vector<CodepointRange> complement_ranges(const std::vector<CodepointRange>& ranges) {
  std::vector<CodepointRange> out;
  uint32_t next = 0;
  for (const CodepointRange& r : ranges) {
    if (r.lo > next) out.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= kMaxCodepoint) out.push_back({next, kMaxCodepoint});
  return normalize_ranges(std::move(out));
}

}  // namespace packinfer::grammar
