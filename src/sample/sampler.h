#pragma once
// Picks the next token from a logit vector according to SamplingParams. Order of operations
// (as in llama.cpp's default chain): penalties -> logit_bias -> greedy shortcut when temperature ==
// 0 -> top-k -> top-p -> min-p -> temperature -> draw with the sequence's own seeded RNG.
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "packinfer/sampling_params.h"

namespace packinfer {

// +infinity: logits compare against -kInf (masked, or NaN read as masked) and kInf.
inline constexpr float kInf = std::numeric_limits<float>::infinity();

class Sampler {
 public:
  // params must already be validated. A sampler belongs to one sequence (its RNG state is what
  // makes "same seed -> same text" hold regardless of what else runs in the batch).
  Sampler(const SamplingParams& params, int32_t vocab_size);

  // logits: vocab_size values, modified in place. history: the sequence's tokens so far (prompt
  // and generated), which the repetition/presence/frequency penalties look at.
  // Non-finite logits: NaN counts as -inf (never drawn); if some logits are +inf the lowest such
  // id is returned; if none is above -inf, token 0 is returned. Penalties ignore history ids
  // outside [0, vocab_size).
  int32_t sample(std::span<float> logits, std::span<const int32_t> history);

 private:
  void apply_penalties(std::span<float> logits, std::span<const int32_t> history);

  SamplingParams params_;
  int32_t vocab_size_;
  std::mt19937_64 rng_;
  struct Candidate {
    int32_t id;
    float logit;
  };
  std::vector<Candidate> candidates_;
  // Penalty scratch, kept between calls so the per-token path does not allocate: occurrence
  // count per vocab id (all zero between calls) and the ids whose count is non-zero.
  std::vector<int32_t> counts_;
  std::vector<int32_t> seen_ids_;
};

// Index of the largest logit, lowest id on ties, NaN treated as -inf (0 if none is above -inf).
// One pass, no allocation: this is the whole of greedy decoding.
int32_t argmax(std::span<const float> logits);

// log-softmax of one token (NaN logits count as -inf). Throws InvalidArgument if id is out of
// range. For the OpenAI "logprobs" field.
float token_logprob(std::span<const float> logits, int32_t id);

// The n most likely tokens (fewer if the vocab is smaller) with their log-softmax values, most
// likely first, lowest id first on ties.
std::vector<std::pair<int32_t, float>> top_logprobs(std::span<const float> logits, int n);

// Finds stop strings in streamed text. Text that could still be the start of a stop string is
// held back, so a client never receives part of a stop string.
class StopStringMatcher {
 public:
  // Empty stop strings are ignored (validate() rejects them anyway).
  explicit StopStringMatcher(std::vector<std::string> stops);
  struct Result {
    std::string emit;  // text safe to send now
    bool stopped = false;
  };
  // The output is the streamed text cut at the EARLIEST occurrence of any stop string, however
  // the text was split into pushes. So a completed stop string is only acted on once no
  // earlier-starting partial match is pending; until then it stays held (stopped == false) and
  // generation goes on a few more tokens. After a stop, push() returns nothing.
  Result push(std::string_view text);
  // End of generation: everything held back is released (up to a stop string, if one is held).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace packinfer
