#pragma once
// The generating side of one request: its prompt, sampler, and the stop logic that turns
// sampled tokens into streamed text (end-of-generation tokens, stop tokens, stop strings, max
// tokens, never a partial UTF-8 character), and the grammar that constrains it, if any. The
// scheduler's Request (sched/request.h) holds one, beside the request's KV blocks and scheduling
// state.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "grammar/compiled_grammar.h"
#include "grammar/grammar_cache.h"
#include "grammar/mask_worker.h"
#include "grammar/matcher.h"
#include "packinfer/generation.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

namespace packinfer {

// How a sequence under a grammar gets its token masks.
struct GrammarRun {
  std::shared_ptr<const grammar::CompiledGrammar> grammar;  // null: no grammar
  // Compute the next step's mask on the mask worker while the next forward runs, instead of
  // right after sampling (a forced run of tokens is then found one step later).
  bool overlap = false;
};

class Sequence {
 public:
  // params must be validated; max_new >= 0 is how many tokens may be generated.
  Sequence(const Tokenizer& tok, const SamplingParams& params, std::vector<int32_t> prompt_ids,
           int64_t max_new, int32_t n_vocab, GrammarRun grammar = {});
  ~Sequence();  // waits for a mask being computed in the background
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  // Takes the logits that predict the next token: samples it, applies every stop rule, streams
  // text to on_text. Returns true while generation goes on (next_tokens() must then be fed).
  // Under a grammar, disallowed tokens are never sampled, the end comes when the grammar is
  // complete, and tokens the grammar forces (the only one it allows) are taken without sampling,
  // several at once (jump-forward): they all come out of this call and are fed together.
  bool accept_logits(std::span<const float> logits, const TextCallback& on_text);
  // Ends generation now (e.g. max_new == 0 or cancelled); releases held-back text unless cancelled.
  void finish(const std::string& reason, const TextCallback& on_text);

  bool finished() const { return finished_; }
  int32_t next_token() const { return next_token_; }
  int64_t n_prompt() const { return static_cast<int64_t>(result_.prompt_ids.size()); }
  int64_t max_new() const { return max_new_; }
  const std::vector<int32_t>& prompt() const { return result_.prompt_ids; }
  GenerationResult& result() { return result_; }
  bool constrained() const { return matcher_ != nullptr; }
  // Tokens of the last accept_logits() call taken without sampling (forced by the grammar).
  int32_t forced_tokens() const { return forced_; }

 private:
  void emit(const std::string& text, const TextCallback& on_text);
  void release_held_text(const TextCallback& on_text);
  // Applies stop rules and streams a chosen token; false when generation ended.
  bool take(int32_t id, const TextCallback& on_text);
  bool accept_constrained(std::span<const float> logits, const TextCallback& on_text);
  void compute_mask();
  void wait_mask();
  // The only token the mask allows (end-of-generation excluded), or -1.
  int32_t single_allowed() const;

  const Tokenizer& tok_;
  SamplingParams params_;
  Sampler sampler_;
  StreamingDetokenizer detok_;
  StopStringMatcher stops_;
  std::vector<int32_t> history_;
  GenerationResult result_;
  int64_t max_new_;
  int32_t next_token_ = -1;
  bool finished_ = false;
  bool cancelled_ = false;
  // Grammar state: the matcher, the mask for the next step (valid when mask_ready_), and the
  // background job computing it (overlap), which alone touches matcher_ and mask_ until waited.
  std::unique_ptr<grammar::GrammarMatcher> matcher_;
  std::vector<uint64_t> mask_;
  bool mask_ready_ = false;
  bool overlap_ = false;
  std::shared_ptr<grammar::MaskJob> job_;
  int32_t forced_ = 0;
};

// Tokenizes and checks a request for a context of n_ctx positions: returns the prompt ids and
// how many tokens may be generated. Throws InvalidArgument (bad sampling values, token ids out
// of range, empty prompt, prompt that leaves no room to generate: message names both lengths).
// With structured output it also compiles the schema or grammar for the vocabulary (through
// `grammars`' cache; InvalidArgument naming the problem), which needs `grammars`.
struct PreparedRequest {
  std::vector<int32_t> prompt_ids;
  int64_t max_new = 0;
  GrammarRun grammar;
};
PreparedRequest prepare_request(const Tokenizer& tok, const GenerationRequest& req, int64_t n_ctx,
                                grammar::GrammarCompiler* grammars = nullptr);

}  // namespace packinfer
