#pragma once
// One generation request and its result: plain values shared by the single-request API
// (Engine::generate), batch jobs and serving.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "packinfer/sampling_params.h"

namespace packinfer {

struct GenerationRequest {
  std::string prompt;               // text, tokenized with the model's tokenizer ...
  std::vector<int32_t> prompt_ids;  // ... unless token ids are given here
  SamplingParams sampling;
  bool add_special = true;    // BOS/EOS as the vocabulary asks
  bool parse_special = true;  // "<|im_start|>" in the text becomes that token
};

struct GenerationResult {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> output_ids;
  std::string text;           // generated text (stop string excluded)
  std::string finish_reason;  // "stop" (end token or stop string), "length", "cancelled"
  int64_t cached_tokens = 0;  // prompt tokens whose KV came from the prefix cache
  double prompt_seconds = 0;  // prefill time (time to first token)
  double generate_seconds = 0;
};

// Receives generated text as it is produced (never a partial UTF-8 character); return false to
// cancel the generation.
using TextCallback = std::function<bool(std::string_view)>;

}  // namespace packinfer
