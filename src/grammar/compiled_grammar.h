#pragma once
// A grammar compiled for one vocabulary: the automaton (vocabulary-independent) and the token
// tables (token_tables.h). Immutable and shared: every request with the same grammar and model
// uses the same one (grammar_cache.h), each through its own GrammarMatcher.
#include <memory>
#include <string>

#include "grammar/automaton.h"
#include "grammar/token_tables.h"
#include "grammar/vocabulary.h"

namespace packinfer::grammar {

struct CompiledGrammar {
  CompiledGrammar(std::string gbnf_text, std::shared_ptr<const Automaton> a,
                  std::shared_ptr<const Vocabulary> v)
      : gbnf(std::move(gbnf_text)),
        automaton(std::move(a)),
        vocab(std::move(v)),
        tables(*automaton, *vocab) {}

  std::string gbnf;  // the grammar as GBNF (a JSON schema's is generated)
  std::shared_ptr<const Automaton> automaton;
  std::shared_ptr<const Vocabulary> vocab;
  TokenTables tables;

  size_t memory_bytes() const {
    return tables.memory_bytes() + automaton->next.size() * 4 + automaton->nodes.size() * 24 +
           gbnf.size();
  }
};

}  // namespace packinfer::grammar
