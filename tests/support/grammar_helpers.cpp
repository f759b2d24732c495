#include "support/grammar_helpers.h"

#include "grammar/automaton_builder.h"
#include "grammar/gbnf_parser.h"

namespace packinfer::test {

using namespace grammar;

std::shared_ptr<const Vocabulary> byte_vocabulary(const std::vector<std::string>& extra) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, static_cast<char>(b)));
  for (const std::string& e : extra) tokens.push_back(e);
  std::vector<bool> allowed(tokens.size(), true);
  const auto eog = static_cast<int32_t>(tokens.size());
  tokens.push_back("</s>");
  allowed.push_back(false);
  tokens.push_back("<|control|>");
  allowed.push_back(false);
  return std::make_shared<const Vocabulary>(tokens, allowed, std::vector<int32_t>{eog});
}

std::shared_ptr<const CompiledGrammar> compile_gbnf(
    const std::string& gbnf, const std::shared_ptr<const Vocabulary>& vocab) {
  auto a = std::make_shared<const Automaton>(compile_automaton(parse_gbnf(gbnf)));
  return std::make_shared<const CompiledGrammar>(gbnf, a, vocab);
}

bool gbnf_accepts(const std::string& gbnf, const std::string& text) {
  static const auto vocab = byte_vocabulary();
  GrammarMatcher m(compile_gbnf(gbnf, vocab));
  return m.accepts_continuation(text, /*must_complete=*/true);
}

std::vector<uint64_t> reference_mask(GrammarMatcher& m) {
  const Vocabulary& v = *m.grammar().vocab;
  std::vector<uint64_t> mask(static_cast<size_t>(m.mask_words()), 0);
  for (int32_t t = 0; t < v.size(); ++t) {
    bool ok = false;
    if (v.is_end_of_generation(t)) {
      ok = m.can_end();
    } else if (v.allowed(t)) {
      ok = m.accepts_continuation(v.bytes(t), /*must_complete=*/false);
    }
    if (ok) mask[static_cast<size_t>(t >> 6)] |= uint64_t{1} << (t & 63);
  }
  return mask;
}

std::vector<uint64_t> fast_mask(GrammarMatcher& m) {
  std::vector<uint64_t> mask(static_cast<size_t>(m.mask_words()), 0);
  m.fill_mask(mask.data());
  return mask;
}

std::vector<int32_t> mask_tokens(const std::vector<uint64_t>& mask, int32_t n_tokens) {
  std::vector<int32_t> out;
  for (int32_t t = 0; t < n_tokens; ++t) {
    if (mask[static_cast<size_t>(t >> 6)] >> (t & 63) & 1) out.push_back(t);
  }
  return out;
}

}  // namespace packinfer::test
