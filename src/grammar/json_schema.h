#pragma once
// JSON Schema -> GBNF. The generated grammar's language is a subset of the schema's valid
// instances, written in one format (json_text.h): properties in `properties` order, required
// ones always, optional ones when the model chooses; no whitespace beyond ", " and ": ".
//
// Supported: type (and type lists), properties, required, additionalProperties (false, true or
// a schema; absent means no extra properties when `properties` is given), items, minItems,
// maxItems, enum, const, minLength, maxLength, format (json_strings.h), minimum, maximum,
// exclusiveMinimum, exclusiveMaximum (numbers or draft-4 booleans), anyOf, oneOf (as anyOf),
// allOf of one schema, $ref to "#..." pointers with $defs / definitions (recursion allowed),
// boolean schemas, and annotations (title, description, default, examples, ...). Anything else
// is refused with InvalidArgument naming the keyword and where it is.
#include <string>
#include <string_view>

namespace packinfer::grammar {

// Throws InvalidArgument "json_schema: <problem> (at <JSON pointer>)".
std::string json_schema_gbnf(std::string_view schema_text);
// Any JSON object (response_format json_object).
std::string json_object_gbnf();

}  // namespace packinfer::grammar
