#pragma once
// UTF-8 helpers. Two decoders exist on purpose:
//  - the strict functions (validation, sanitising) follow the Unicode standard and are what the
//    engine uses to clean prompts and streamed output;
//  - decode_lenient() reproduces how llama.cpp turns bytes into code points before its
//    pre-tokenizer runs (each undecodable byte becomes U+FFFD, overlong forms and surrogates are
//    accepted), because byte-level BPE must see exactly the same code points to give the same ids.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace packinfer::utf8 {

inline constexpr uint32_t kReplacement = 0xFFFD;

// Length of the sequence a lead byte announces, judged by its top four bits only (1 for ASCII
// and stray continuation bytes). Same table as llama.cpp's unicode_len_utf8.
size_t sequence_length(uint8_t lead);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool is_valid(std::string_view s);

// Length of the longest prefix that does not end inside an incomplete (but so far valid)
// character. Invalid bytes count as complete: they are not going to become valid later.
size_t complete_prefix_length(std::string_view s);

// Copy of `s` with every maximal invalid subpart replaced by U+FFFD (the W3C/Unicode
// "substitution of maximal subparts" practice, as Python's errors="replace" does).
std::string sanitize(std::string_view s);

// Appends the UTF-8 form of `cpt`. Surrogates are encoded like any other BMP value (this is what
// llama.cpp does); values above U+10FFFF become U+FFFD.
void append(std::string& out, uint32_t cpt);

// llama.cpp-compatible decoding, see the file comment.
std::vector<uint32_t> decode_lenient(std::string_view s);

}  // namespace packinfer::utf8
