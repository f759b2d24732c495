#pragma once
// The body of an OpenAI /v1/completions or /v1/chat/completions request, parsed and validated.
// Shared by the HTTP server and `packinfer batch`; pure functions (no engine, no I/O), so every
// accepted and rejected shape is unit-tested without a model.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "openai/request_fields.h"
#include "packinfer/chat.h"
#include "packinfer/sampling_params.h"

namespace packinfer::api {

enum class Endpoint { Completions, ChatCompletions };

// One prompt of /v1/completions: text, or token ids.
struct PromptInput {
  std::string text;
  std::vector<int32_t> ids;
};

struct CompletionRequest {
  Endpoint endpoint = Endpoint::Completions;
  std::string model;                // as requested (empty: not given)
  std::string prompt;               // completions, as text ...
  std::vector<int32_t> prompt_ids;  // ... or as token ids (the first prompt of `prompts`)
  // Completions: every prompt of the request, in order (a batch gives len(prompts) x n
  // choices). prompt/prompt_ids hold the one prepare_prompt() works on.
  std::vector<PromptInput> prompts;
  std::vector<ChatMessage> messages;  // chat completions
  SamplingParams sampling;            // OpenAI defaults; max_tokens set by fit_to_context()
  std::optional<int64_t> max_tokens;  // as requested
  int32_t n = 1;                      // choices to generate
  int32_t top_logprobs = -1;          // -1: no logprobs; else alternatives per token
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;           // completions: the prompt is prepended to each choice's text
};

// Selects prompt `i` of req.prompts as the one prepare_prompt() tokenizes.
void select_prompt(CompletionRequest& req, size_t i);

// What a caller supports; anything else is rejected or ignored with a warning.
struct ParseOptions {
  std::vector<std::string> model_names;  // names "model" may use (accepted_model_names())
  int32_t max_n = 1;
  // Prompts one /v1/completions request may carry (a list of strings or of token-id lists);
  // 1: a list of several is refused.
  size_t max_prompts = 1;
  bool echo = false;      // false: "echo": true is refused
  bool logprobs = false;  // false: logprobs/top_logprobs are ignored with a warning
  bool stream = false;    // false: stream/stream_options are unknown fields
  // A body with "messages" is a chat request whatever the endpoint (batch lines without a url).
  bool infer_endpoint = false;
  std::vector<std::string> silent_fields;  // accepted without a warning (batch: custom_id)
};

inline constexpr int32_t kMaxCompletionLogprobs = 5;  // OpenAI's limits
inline constexpr int32_t kMaxChatTopLogprobs = 20;
inline constexpr size_t kMaxStopStrings = 4;
inline constexpr int32_t kMaxLogitBiasEntries = 300;  // OpenAI's limit
// Default max_tokens of the completions endpoint (OpenAI's).
inline constexpr int64_t kDefaultCompletionMaxTokens = 16;

// Called for each field that is ignored, with the reason (may be empty).
using IgnoredFieldFn = std::function<void(const std::string& field, const std::string& why)>;

// A request with OpenAI's sampling defaults (temperature 1, no top-k/top-p/min-p, penalties off
// and looking at the whole text), not SamplingParams' llama.cpp-style ones.
CompletionRequest openai_defaults(Endpoint endpoint);

// Fills `req` (which holds the defaults and the endpoint) from a body object. Throws
// RequestFailure for a wrong type, an out-of-range value or a missing field.
void parse_body(const RequestJson& body, CompletionRequest& req, const ParseOptions& options,
                const IgnoredFieldFn& ignored);

// A whole HTTP body: UTF-8, JSON, an object, then parse_body(). Never throws.
std::optional<RequestError> parse_request_text(std::string_view text, Endpoint endpoint,
                                               const ParseOptions& options,
                                               const IgnoredFieldFn& ignored,
                                               CompletionRequest& out);

// What a max_tokens beyond the room left in the context does.
enum class MaxTokensPolicy {
  Clamp,   // generate until the context is full (batch jobs: the job must not fail)
  Reject,  // 400 naming the lengths (the server: like vLLM, the client learns its mistake)
};

// Once the prompt is tokenized: rejects prompts that are empty or leave no room to generate, and
// sets sampling.max_tokens to the request's value (or the endpoint default) fitted to the
// context. Returns the error, if any.
std::optional<RequestError> fit_to_context(CompletionRequest& req, int64_t n_prompt_tokens,
                                           int64_t n_ctx,
                                           MaxTokensPolicy policy = MaxTokensPolicy::Clamp);

// Names a request's "model" may use for the loaded model: file stem, file name, general.name.
std::vector<std::string> accepted_model_names(const std::string& model_path,
                                              const std::string& general_name);

// Each distinct ignored field is reported once, not once per request (a million-line job or a
// busy server with one extra field must not flood stderr). Not thread-safe.
class FieldWarnings {
 public:
  // Records that `field` was ignored (`where`: e.g. "line 5"); true the first time it is seen.
  bool note(const std::string& field, const std::string& where, const std::string& why);
  // Warning messages not yet taken, in the order the fields were first seen.
  std::vector<std::string> take();

 private:
  std::set<std::string> seen_;
  std::vector<std::string> pending_;
};

}  // namespace packinfer::api
