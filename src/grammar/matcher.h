#pragma once
// The state of one generation under a grammar: which parses are alive after the text so far,
// which tokens may come next (a bitset over the vocabulary), and what the grammar forces next.
// Not thread-safe: one matcher per sequence (the compiled grammar it reads is shared).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/compiled_grammar.h"
#include "grammar/parse_stack.h"

namespace packinfer::grammar {

class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const CompiledGrammar> grammar);

  const CompiledGrammar& grammar() const { return *grammar_; }
  // Words of the mask: bit t of word t / 64 is token t.
  int32_t mask_words() const { return grammar_->tables.n_words(); }

  // The tokens allowed next: text tokens that keep the text a prefix of the grammar's language,
  // and the end-of-generation tokens exactly when the text so far is complete (can_end()).
  // Nothing after an end-of-generation token was accepted.
  void fill_mask(uint64_t* mask);
  // Advances over a token; returns false (state unchanged) when the token is not allowed.
  // An end-of-generation token is allowed when can_end(); the matcher is then terminated().
  bool accept_token(int32_t id);
  // Advances over raw bytes (tests, jump-forward); false and unchanged when not allowed.
  bool accept_bytes(std::string_view bytes);

  // The text so far is a complete sentence of the grammar.
  bool can_end() const { return accepting_ && !terminated_; }
  // Complete, and no byte can follow: generation is over.
  bool must_end() const { return accepting_ && configs_.empty(); }
  bool terminated() const { return terminated_; }
  // The bytes the grammar forces next (up to max_bytes): while exactly one byte is possible and
  // the text cannot end there. Empty when the next byte is free.
  std::string forced_bytes(size_t max_bytes = 256);

  // The live parses (tests and debugging).
  const std::vector<Config>& configs() const { return configs_; }
  // Brute force, for tests: is `bytes` a possible continuation from the current state?
  bool accepts_continuation(std::string_view bytes, bool must_complete);

 private:
  bool advance_bytes(std::string_view bytes, std::vector<Config>& out, bool& accepting);
  void check_uncertain(const Config& c, uint64_t* mask);
  void compact();

  std::shared_ptr<const CompiledGrammar> grammar_;
  const Automaton& a_;
  const Vocabulary& v_;
  FramePool pool_;
  Closure closure_;
  std::vector<Config> configs_;
  bool accepting_ = false;
  bool terminated_ = false;
  size_t live_frames_ = 0;  // pool size after the last compaction
  // Scratch for walks (kept to avoid allocating per token).
  std::vector<std::vector<Config>> levels_;
  std::vector<size_t> marks_;
  std::vector<Config> tmp_a_, tmp_b_;
  std::vector<int32_t> seen_nodes_;
};

}  // namespace packinfer::grammar
