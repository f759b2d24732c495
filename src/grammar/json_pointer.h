#pragma once
// JSON pointers (RFC 6901) inside a document, for a schema's local "$ref": "#/$defs/a~1b".
#include <nlohmann/json.hpp>
#include <string_view>

namespace packinfer::grammar {

// The value `ref` ("#" followed by a pointer) names inside `root`; null when it names nothing
// or is not of that form.
const nlohmann::ordered_json* resolve_local_ref(const nlohmann::ordered_json& root,
                                                std::string_view ref);

}  // namespace packinfer::grammar
