#include "grammar/utf8_ranges.h"

#include <cstddef>
#include <utility>

namespace packinfer::grammar {
namespace {

int encoded_length(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

void encode(uint32_t cp, int n, uint8_t* out) {
  if (n == 1) {
    out[0] = static_cast<uint8_t>(cp);
    return;
  }
  static constexpr uint8_t kLead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
  for (int k = n - 1; k > 0; --k) {
    out[k] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    cp >>= 6;
  }
  out[0] = static_cast<uint8_t>(kLead[n] | cp);
}

}  // namespace

std::vector<std::vector<ByteRange>> utf8_sequences(uint32_t lo, uint32_t hi) {
  std::vector<std::vector<ByteRange>> out;
  // Pieces still to split; at most a few dozen, so a small explicit stack.
  std::vector<std::pair<uint32_t, uint32_t>> todo;
  if (hi > 0x10FFFF) hi = 0x10FFFF;
  if (lo <= hi) todo.push_back({lo, hi});
  while (!todo.empty()) {
    auto [a, b] = todo.back();
    todo.pop_back();
    // Surrogates are not characters.
    if (a <= 0xDFFF && b >= 0xD800) {
      if (a < 0xD800) todo.push_back({a, 0xD7FF});
      if (b > 0xDFFF) todo.push_back({0xE000, b});
      continue;
    }
    // One encoded length per piece.
    bool split = false;
    for (uint32_t edge : {0x7Fu, 0x7FFu, 0xFFFFu}) {
      if (a <= edge && b > edge) {
        todo.push_back({a, edge});
        todo.push_back({edge + 1, b});
        split = true;
        break;
      }
    }
    if (split) continue;
    const int n = encoded_length(a);
    // Within a length, a piece maps to a product of byte ranges only when its lower continuation
    // bytes span their full range 80-BF: split at those boundaries.
    for (int k = 1; k < n && !split; ++k) {
      const uint32_t m = (1u << (6 * k)) - 1;
      if ((a & ~m) != (b & ~m)) {
        if ((a & m) != 0) {
          todo.push_back({a, a | m});
          todo.push_back({(a | m) + 1, b});
          split = true;
        } else if ((b & m) != m) {
          todo.push_back({a, (b & ~m) - 1});
          todo.push_back({b & ~m, b});
          split = true;
        }
      }
    }
    if (split) continue;
    uint8_t ea[4], eb[4];
    encode(a, n, ea);
    encode(b, n, eb);
    std::vector<ByteRange> seq(static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) seq[static_cast<size_t>(k)] = {ea[k], eb[k]};
    out.push_back(std::move(seq));
  }
  return out;
}

}  // namespace packinfer::grammar
