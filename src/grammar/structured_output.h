#pragma once
// What a request's StructuredOutput means as a grammar: GBNF text for each kind.
#include <string>

#include "packinfer/sampling_params.h"

namespace packinfer::grammar {

// JsonObject -> any JSON object; JsonSchema -> json_schema_gbnf(text); Grammar -> text as is.
// Throws InvalidArgument for kind None and for a schema that cannot be compiled.
std::string structured_output_gbnf(const StructuredOutput& spec);

}  // namespace packinfer::grammar
