#pragma once
// UTF-8 validation for identifiers read from files (metadata keys, tensor names).
#include <string_view>

namespace packinfer::gguf {

// True for well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s);

}  // namespace packinfer::gguf
