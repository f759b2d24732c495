#pragma once
// Test helpers for the grammar engine: small vocabularies, compiling GBNF, and the brute-force
// reference mask (every token checked by simulating its bytes, no precomputed tables or trie).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grammar/compiled_grammar.h"
#include "grammar/matcher.h"
#include "grammar/vocabulary.h"

namespace packinfer::test {

// Every single byte as a token (ids 0..255), then `extra` strings, then one end-of-generation
// token (id 256 + extra.size()) and one never-allowed control token after it.
std::shared_ptr<const grammar::Vocabulary> byte_vocabulary(
    const std::vector<std::string>& extra = {});

// Compiles GBNF for a vocabulary without the caches. Throws what compilation throws.
std::shared_ptr<const grammar::CompiledGrammar> compile_gbnf(
    const std::string& gbnf, const std::shared_ptr<const grammar::Vocabulary>& vocab);

// Does the grammar accept exactly this text?
bool gbnf_accepts(const std::string& gbnf, const std::string& text);

// The reference mask: token t is allowed iff it is end-of-generation and the matcher can end, or
// it is a text token whose bytes continue the text within the grammar.
std::vector<uint64_t> reference_mask(grammar::GrammarMatcher& m);
std::vector<uint64_t> fast_mask(grammar::GrammarMatcher& m);
std::vector<int32_t> mask_tokens(const std::vector<uint64_t>& mask, int32_t n_tokens);

}  // namespace packinfer::test
