#include "tokenizer/utf8.h"

namespace packinfer::utf8 {
namespace {

bool is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

// Length of the well-formed character starting at s[i], 0 if the bytes there are invalid, or
// -1 (as SIZE_MAX) if they are a valid but truncated beginning. `sub` receives the length of the
// maximal subpart (how many bytes to replace by one U+FFFD) when the sequence is invalid.
constexpr size_t kTruncated = static_cast<size_t>(-1);

size_t char_at(std::string_view s, size_t i, size_t& sub) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  sub = 1;
  if (b0 < 0x80) return 1;
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  for (size_t k = 1; k < need; ++k) {
    if (i + k >= s.size()) return kTruncated;
    const auto b = static_cast<uint8_t>(s[i + k]);
    const bool ok = k == 1 ? (b >= lo && b <= hi) : is_cont(b);
    if (!ok) return 0;
    sub = k + 1;
  }
  return need;
}

}  // namespace

size_t sequence_length(uint8_t lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

bool is_valid(std::string_view s) {
  size_t i = 0, sub = 0;
  while (i < s.size()) {
    const size_t n = char_at(s, i, sub);
    if (n == 0 || n == kTruncated) return false;
    i += n;
  }
  return true;
}

size_t complete_prefix_length(std::string_view s) {
  size_t i = 0, sub = 0;
  while (i < s.size()) {
    const size_t n = char_at(s, i, sub);
    if (n == kTruncated) return i;
    i += n == 0 ? sub : n;
  }
  return s.size();
}

std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0, sub = 0;
  while (i < s.size()) {
    const size_t n = char_at(s, i, sub);
    if (n == 0 || n == kTruncated) {
      append(out, kReplacement);
      i += n == 0 ? sub : s.size() - i;  // a truncated tail is one maximal subpart
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

void append(std::string& out, uint32_t cpt) {
  if (cpt < 0x80) {
    out += static_cast<char>(cpt);
  } else if (cpt < 0x800) {
    out += static_cast<char>(0xC0 | (cpt >> 6));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else if (cpt < 0x10000) {
    out += static_cast<char>(0xE0 | (cpt >> 12));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else if (cpt <= 0x10FFFF) {
    out += static_cast<char>(0xF0 | (cpt >> 18));
    out += static_cast<char>(0x80 | ((cpt >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else {
    append(out, kReplacement);
  }
}

std::vector<uint32_t> decode_lenient(std::string_view s) {
  // Only the lead byte's length and the continuation bits are checked; anything else that fails
  // is replaced byte by byte, which is how llama.cpp's unicode_cpts_from_utf8 behaves.
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    size_t n;
    uint32_t cpt;
    if (b0 < 0x80) {
      n = 1, cpt = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      n = 2, cpt = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      n = 3, cpt = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      n = 4, cpt = b0 & 0x07;
    } else {
      n = 0, cpt = 0;  // stray continuation byte or 0xF8..0xFF
    }
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      ok = is_cont(b);
      cpt = (cpt << 6) | (b & 0x3F);
    }
    if (ok) {
      out.push_back(cpt);
      i += n;
    } else {
      out.push_back(kReplacement);
      i += 1;
    }
  }
  return out;
}

}  // namespace packinfer::utf8
