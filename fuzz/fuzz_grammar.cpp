// libFuzzer target for the structured-output compilers: the first byte picks GBNF (0), a JSON
// schema (1) or json_object (2); the bytes up to the first NUL are the grammar or schema, the
// rest is text fed to a matcher of the compiled grammar (over a vocabulary of all single bytes and
// a few longer tokens), with a token mask computed at every step. Any input must compile or give
// packinfer::InvalidArgument; a crash, sanitizer report, other exception, hang or huge allocation
// is a bug. Compiled directly, not through the caches, so every input is compiled in full.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grammar/automaton_builder.h"
#include "grammar/compiled_grammar.h"
#include "grammar/gbnf_parser.h"
#include "grammar/matcher.h"
#include "grammar/structured_output.h"
#include "packinfer/error.h"

namespace {

std::shared_ptr<const packinfer::grammar::Vocabulary> vocabulary() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, static_cast<char>(b)));
  for (const char* t : {"{\"", "\": ", "\", \"", "true", "null", "\xC3\xA9", "12", "::=", " | ",
                        "\"}", "[]", "\\u00"}) {
    tokens.push_back(t);
  }
  std::vector<bool> allowed(tokens.size(), true);
  tokens.push_back("<eos>");
  allowed.push_back(false);
  const auto eos = static_cast<int32_t>(tokens.size()) - 1;
  return std::make_shared<const packinfer::grammar::Vocabulary>(tokens, allowed,
                                                                std::vector<int32_t>{eos});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace packinfer;
  if (size == 0) return 0;
  static const auto vocab = vocabulary();
  const std::string all(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t nul = all.find('\0');
  StructuredOutput spec;
  spec.kind = data[0] % 3 == 0   ? StructuredOutput::Kind::Grammar
              : data[0] % 3 == 1 ? StructuredOutput::Kind::JsonSchema
                                 : StructuredOutput::Kind::JsonObject;
  if (spec.kind != StructuredOutput::Kind::JsonObject) spec.text = all.substr(0, nul);
  const std::string feed = nul == std::string::npos ? "" : all.substr(nul + 1);
  try {
    const std::string gbnf = grammar::structured_output_gbnf(spec);
    auto automaton = std::make_shared<const grammar::Automaton>(
        grammar::compile_automaton(grammar::parse_gbnf(gbnf)));
    auto compiled = std::make_shared<const grammar::CompiledGrammar>(gbnf, automaton, vocab);
    grammar::GrammarMatcher m(compiled);
    std::vector<uint64_t> mask(static_cast<size_t>(m.mask_words()));
    m.fill_mask(mask.data());
    (void)m.forced_bytes(64);
    for (size_t i = 0; i < feed.size() && i < 256; ++i) {
      if (!m.accept_bytes(feed.substr(i, 1))) break;
      m.fill_mask(mask.data());
    }
  } catch (const InvalidArgument&) {
  }
  return 0;
}
