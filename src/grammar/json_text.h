#pragma once
// How generated JSON looks, in one place: separators ", " and ": " and no other whitespace
// (Python's json.dumps default), strings with the escapes JSON requires. enum/const values are
// written the same way, so the grammar's text for them is exactly what the model must produce.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace packinfer::grammar {

inline constexpr const char* kItemSeparator = ", ";
inline constexpr const char* kKeySeparator = ": ";

// A JSON value in the generated format. `value` must be at most limits::kMaxSchemaDepth deep
// (checked by the caller with json_depth()).
std::string json_text(const nlohmann::ordered_json& value);
// A JSON string literal (quotes included) for `s` (UTF-8).
std::string json_quote(std::string_view s);
// `bytes` as a GBNF string literal (quotes included), escaping what GBNF needs.
std::string gbnf_literal(std::string_view bytes);
// Nesting depth of a JSON value (a scalar is 0), computed without recursion.
int json_depth(const nlohmann::ordered_json& value);

}  // namespace packinfer::grammar
