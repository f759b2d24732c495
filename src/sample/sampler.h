#pragma once
// Picks the next token from a logit vector according to SamplingParams. Order of operations
// (as in llama.cpp's default chain): penalties -> greedy shortcut when temperature == 0 ->
// top-k -> top-p -> min-p -> temperature -> draw with the sequence's own seeded RNG.
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "packinfer/sampling_params.h"

namespace packinfer {

class Sampler {
 public:
  // params must already be validated. A sampler belongs to one sequence (its RNG state is what
  // makes "same seed -> same text" hold regardless of what else runs in the batch).
  Sampler(const SamplingParams& params, int32_t vocab_size);

  // logits: vocab_size values, modified in place. history: the sequence's tokens so far (prompt
  // and generated), which the repetition/presence/frequency penalties look at.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history);

 private:
  SamplingParams params_;
  int32_t vocab_size_;
  std::mt19937_64 rng_;
  struct Candidate {
    int32_t id;
    float logit;
  };
  std::vector<Candidate> candidates_;
};

// Finds stop strings in streamed text. Text that could still be the start of a stop string is
// held back, so a client never receives part of a stop string.
class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  struct Result {
    std::string emit;  // text safe to send now
    bool stopped = false;
  };
  Result push(std::string_view text);
  // End of generation: everything held back is released.
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace packinfer
