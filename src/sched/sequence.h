#pragma once
// The generating side of one request: its prompt, sampler, and the stop logic that turns
// sampled tokens into streamed text (end-of-generation tokens, stop tokens, stop strings, max
// tokens, never a partial UTF-8 character). The scheduler's Request (sched/request.h) holds one,
// beside the request's KV blocks and scheduling state.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "packinfer/generation.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

namespace packinfer {

class Sequence {
 public:
  // params must be validated; max_new >= 0 is how many tokens may be generated.
  Sequence(const Tokenizer& tok, const SamplingParams& params, std::vector<int32_t> prompt_ids,
           int64_t max_new, int32_t n_vocab);

  // Takes the logits that predict the next token: samples it, applies every stop rule, streams
  // text to on_text. Returns true while generation goes on (next_token() must then be fed).
  bool accept_logits(std::span<const float> logits, const TextCallback& on_text);
  // Ends generation now (e.g. max_new == 0 or cancelled); releases held-back text unless cancelled.
  void finish(const std::string& reason, const TextCallback& on_text);

  bool finished() const { return finished_; }
  int32_t next_token() const { return next_token_; }
  int64_t n_prompt() const { return static_cast<int64_t>(result_.prompt_ids.size()); }
  int64_t max_new() const { return max_new_; }
  const std::vector<int32_t>& prompt() const { return result_.prompt_ids; }
  GenerationResult& result() { return result_; }

 private:
  void emit(const std::string& text, const TextCallback& on_text);
  void release_held_text(const TextCallback& on_text);

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
};

// Tokenizes and checks a request for a context of n_ctx positions: returns the prompt ids and
// how many tokens may be generated. Throws InvalidArgument (bad sampling values, token ids out
// of range, empty prompt, prompt that leaves no room to generate: message names both lengths).
struct PreparedRequest {
  std::vector<int32_t> prompt_ids;
  int64_t max_new = 0;
};
PreparedRequest prepare_request(const Tokenizer& tok, const GenerationRequest& req, int64_t n_ctx);

}  // namespace packinfer
