#pragma once
// Compiling a schema or grammar once: the text -> GBNF -> automaton stage is cached by the
// request's text, and the vocabulary stage (token tables, the costly part) by (GBNF, vocabulary),
// so a schema that every request of a client repeats compiles once per model. Thread-safe: the
// server compiles on its HTTP threads; two requests with the same new grammar wait for one
// compilation.
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "grammar/automaton.h"
#include "grammar/compiled_grammar.h"
#include "grammar/vocabulary.h"
#include "packinfer/sampling_params.h"
#include "tokenizer/tokenizer.h"

namespace packinfer::grammar {

// The GBNF text and automaton of a spec (kind None is an error). Throws InvalidArgument naming
// the problem (schema keyword, grammar line and column).
struct GrammarSource {
  std::string gbnf;
  std::shared_ptr<const Automaton> automaton;
};
std::shared_ptr<const GrammarSource> compile_source(const StructuredOutput& spec);

// The grammar for a vocabulary, from the caches when possible.
std::shared_ptr<const CompiledGrammar> compile_for(const StructuredOutput& spec,
                                                   const std::shared_ptr<const Vocabulary>& vocab);

// One per model: the vocabulary is built on first use.
// `overlap`: sequences compute their next mask on the mask worker (mask_worker.h) while the
// next forward runs.
class GrammarCompiler {
 public:
  explicit GrammarCompiler(const Tokenizer& tok, bool overlap = false)
      : tok_(tok), overlap_(overlap) {}
  std::shared_ptr<const CompiledGrammar> compile(const StructuredOutput& spec);
  std::shared_ptr<const Vocabulary> vocabulary();
  bool overlap() const { return overlap_; }

 private:
  const Tokenizer& tok_;
  bool overlap_;
  std::once_flag once_;
  std::shared_ptr<const Vocabulary> vocab_;
};

struct CacheStats {
  size_t entries = 0;
  size_t bytes = 0;
  size_t hits = 0;
  size_t misses = 0;
};
CacheStats compiled_cache_stats();
void clear_caches();  // tests and benchmarks (compile times from cold)

}  // namespace packinfer::grammar
