#pragma once
// JSON strings as grammar: the characters of a JSON string (raw UTF-8 except '"', '\' and control
// characters, or an escape; \u escapes of lone surrogates are excluded, since JSON parsers reject
// them), lengths in characters (an escape is one character, as JSON Schema counts), and the
// formats packinfer can enforce.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace packinfer::grammar {

// One character of a JSON string's content.
std::string json_char_gbnf();
// A whole string (quotes included) of min_len to max_len characters (no max: unbounded).
std::string json_string_gbnf(int64_t min_len, std::optional<int64_t> max_len);
// A string (quotes included) in a format: date, time, date-time, uuid, ipv4. Throws
// InvalidArgument naming the format otherwise.
std::string json_format_gbnf(std::string_view format);
// The formats json_format_gbnf() knows, for messages.
const char* supported_formats();

}  // namespace packinfer::grammar
