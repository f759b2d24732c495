#pragma once
// An independent JSON Schema validator for the structured-output tests. It shares no code with
// src/grammar: it checks what the grammar engine produced against the schema's meaning, written
// from the JSON Schema specification (the keywords packinfer supports, plus the ones it
// refuses so a refused schema can never be validated by accident).
//
// Numbers are compared exactly on their decimal text (a double would round 1.0000000000000001
// to 1 and break exclusive bounds): the instance's number texts are captured while parsing.
#include <nlohmann/json.hpp>
#include <string>

namespace packinfer::test {

// Empty when `text` is a JSON document valid against `schema`; else what is wrong (or that the
// text is not JSON).
std::string validate_json_text(const std::string& text, const nlohmann::ordered_json& schema);

// Empty when `text` can be the beginning of a document valid against `schema` as far as it goes:
// it is a JSON prefix, every complete value in it (scalars, closed objects and arrays) is valid
// against the schema for its place, and object keys are allowed there. For outputs cut by
// max_tokens.
std::string validate_json_prefix(const std::string& text, const nlohmann::ordered_json& schema);

}  // namespace packinfer::test
