#pragma once
// Code-point ranges as UTF-8 byte patterns: [U+0080, U+07FF] is the two-byte sequences
// [C2-DF][80-BF]. A character class becomes a few such sequences, which the automaton matches
// byte by byte (tokens are bytes and may end in the middle of a character).
#include <cstdint>
#include <vector>

namespace packinfer::grammar {

struct ByteRange {
  uint8_t lo = 0;
  uint8_t hi = 0;
};

// Byte-range sequences whose union is exactly the UTF-8 encodings of the code points [lo, hi]
// (surrogates excluded). Each sequence is 1 to 4 ranges long.
std::vector<std::vector<ByteRange>> utf8_sequences(uint32_t lo, uint32_t hi);

}  // namespace packinfer::grammar
