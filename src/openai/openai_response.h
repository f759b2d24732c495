#pragma once
// OpenAI-shaped response bodies: text_completion / chat.completion objects, the
// chat.completion.chunk and text_completion chunks of a stream, usage, logprobs and error
// objects. Pure JSON shaping, shared by the HTTP server and `packinfer batch`.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "openai/openai_request.h"
#include "packinfer/engine.h"
#include "packinfer/serving.h"

namespace packinfer::api {

using ojson = nlohmann::ordered_json;

// Fields every object of one response shares.
struct ResponseContext {
  Endpoint endpoint = Endpoint::Completions;
  std::string id;     // "cmpl-..." / "chatcmpl-..."
  std::string model;  // as the client named it (or the served name)
  int64_t created = 0;
};

// The text of one token id, for logprobs ("token" fields).
using TokenTextFn = std::function<std::string(int32_t)>;

// One generated choice.
struct ChoiceResult {
  const GenerationResult* generation = nullptr;
  const std::vector<TokenEvent>* tokens = nullptr;  // set: the client asked for logprobs
  // Completions with echo: the prompt's text, put before the generated text, and (with
  // logprobs) its tokens: every prompt token, `text` the part of the prompt's text it adds,
  // logprob NaN for the first one (it has none; written as null).
  const std::string* echo = nullptr;
  const std::vector<TokenEvent>* prompt_tokens = nullptr;
};

ojson usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens);
// Usage of choices generated `per_prompt` at a time from each prompt (choices [k * per_prompt,
// (k + 1) * per_prompt) share prompt k; 0: all share one): a prompt counts once (as OpenAI
// bills it).
ojson usage_json(const std::vector<ChoiceResult>& choices, size_t per_prompt = 0);

// The logprobs object of a choice, in the endpoint's shape (completions: tokens/token_logprobs/
// top_logprobs/text_offset; chat: content[] with token, logprob, bytes, top_logprobs).
ojson logprobs_json(Endpoint endpoint, const std::vector<TokenEvent>& tokens,
                    const TokenTextFn& token_text, int64_t text_offset = 0);

// A whole (non-streamed) response; `per_prompt` as for usage_json().
ojson completion_json(const ResponseContext& ctx, const std::vector<ChoiceResult>& choices,
                      const TokenTextFn& token_text = {}, size_t per_prompt = 0);

// One chunk of a stream for choice `index`: `text` new text (chat: with the assistant role on the
// first chunk), `finish_reason` on the last one, `logprobs` when asked.
ojson stream_chunk(const ResponseContext& ctx, int32_t index, const std::string& text,
                   const std::optional<std::string>& finish_reason, bool first,
                   const ojson& logprobs = nullptr);
// The final chunk of a stream with stream_options.include_usage: no choices, only usage.
ojson usage_chunk(const ResponseContext& ctx, const ojson& usage);

// {"error": {"message", "type", "param", "code"}}; type is invalid_request_error below 500.
ojson error_json(const RequestError& error);

// Serialises without throwing on invalid UTF-8 (a single byte token's text may be a partial
// character): such bytes are replaced by U+FFFD.
std::string dump(const ojson& j);

}  // namespace packinfer::api
