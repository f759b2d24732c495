#pragma once
// How the next token is chosen, and when generation stops. Field names and defaults follow the
// OpenAI API and llama.cpp so users can carry their settings over.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace packinfer {

// Constrains the generated text to a formal language (structured output): any JSON object, the
// instances of a JSON schema, or a GBNF grammar (see README, "Structured output"). Compiled when
// the request is submitted; a bad schema or grammar is an InvalidArgument naming the problem.
struct StructuredOutput {
  enum class Kind { None, JsonObject, JsonSchema, Grammar };
  Kind kind = Kind::None;
  std::string text;    // JsonSchema: the schema as JSON text; Grammar: GBNF text; else empty
  bool strict = true;  // json_schema's "strict"; packinfer always enforces the whole schema

  bool operator==(const StructuredOutput&) const = default;
};

struct SamplingParams {
  float temperature = 0.8f;         // 0 = greedy (argmax, lowest id on ties)
  int32_t top_k = 40;               // 0 = off
  float top_p = 0.95f;              // 1 = off
  float min_p = 0.05f;              // 0 = off; relative to the most likely token
  float repetition_penalty = 1.0f;  // 1 = off (llama.cpp's repeat_penalty, CTRL-style)
  int32_t repetition_window = 64;   // last N tokens the penalties look at (-1 = all, 0 = off)
  float presence_penalty = 0.0f;    // OpenAI semantics, -2..2
  float frequency_penalty = 0.0f;   // OpenAI semantics, -2..2
  std::optional<uint64_t> seed;     // same seed -> same text; unset = random
  int32_t max_tokens = 128;         // tokens to generate at most (-1 = until the context is full)
  std::vector<std::string> stop;    // stop strings (not included in the output)
  std::vector<int32_t>
      stop_token_ids;       // extra stop tokens besides the model's end-of-generation ones
  bool ignore_eos = false;  // keep going past end-of-generation tokens
  StructuredOutput structured;  // none by default
  // Added to the logits of these token ids before sampling (OpenAI's logit_bias: -100 bans a
  // token, +100 all but forces it). Ids must be below the vocabulary size (checked where the
  // model is known); values in [-100, 100].
  std::vector<std::pair<int32_t, float>> logit_bias;

  // Throws packinfer::InvalidArgument naming the field and the accepted range.
  void validate() const;

  static SamplingParams greedy() {
    SamplingParams p;
    p.temperature = 0.0f;
    return p;
  }
};

}  // namespace packinfer
