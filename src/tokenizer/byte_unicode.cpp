#include "tokenizer/byte_unicode.h"

#include <array>

#include "tokenizer/utf8.h"

namespace packinfer::byte_unicode {
namespace {

struct Tables {
  std::array<uint32_t, 256> byte_to_cpt{};
  std::array<std::string, 256> byte_to_utf8;
  std::array<int16_t, 512> cpt_to_byte{};  // every mapped code point is below U+0200

  Tables() {
    cpt_to_byte.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      byte_to_cpt[b] = printable ? b : next++;
      utf8::append(byte_to_utf8[b], byte_to_cpt[b]);
      cpt_to_byte[byte_to_cpt[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::string& encode_byte(uint8_t b) { return tables().byte_to_utf8[b]; }

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += encode_byte(static_cast<uint8_t>(c));
  return out;
}

std::optional<uint8_t> decode_cpt(uint32_t cpt) {
  if (cpt >= 512 || tables().cpt_to_byte[cpt] < 0) return std::nullopt;
  return static_cast<uint8_t>(tables().cpt_to_byte[cpt]);
}

}  // namespace packinfer::byte_unicode
