#pragma once
// GPT-2's reversible byte <-> printable code point mapping used by byte-level BPE vocabularies:
// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in byte order
// (so the space 0x20 is "Ġ" U+0120 and the newline is "Ċ" U+010A).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace packinfer::byte_unicode {

// UTF-8 text of the code point standing for byte `b`.
const std::string& encode_byte(uint8_t b);
// Maps every byte of `bytes` (a pre-tokenized word).
std::string encode(std::string_view bytes);
// The byte a code point stands for, or nullopt when it is not part of the mapping.
std::optional<uint8_t> decode_cpt(uint32_t cpt);

}  // namespace packinfer::byte_unicode
