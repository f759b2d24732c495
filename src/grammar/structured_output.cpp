#include "grammar/structured_output.h"

#include "grammar/json_schema.h"
#include "packinfer/error.h"

namespace packinfer::grammar {

std::string structured_output_gbnf(const StructuredOutput& spec) {
  switch (spec.kind) {
    case StructuredOutput::Kind::JsonObject:
      return json_object_gbnf();
    case StructuredOutput::Kind::JsonSchema:
      return json_schema_gbnf(spec.text);
    case StructuredOutput::Kind::Grammar:
      return spec.text;
    case StructuredOutput::Kind::None:
      break;
  }
  throw InvalidArgument("no structured output was asked for");
}

}  // namespace packinfer::grammar
