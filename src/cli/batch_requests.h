#pragma once
// `packinfer batch` input: one JSON request per line, either the OpenAI Batch API envelope
//   {"custom_id": "...", "method": "POST", "url": "/v1/completions", "body": {...}}
// or a bare body {"prompt": "...", ...} (custom_id optional). Pure functions: no engine, no I/O,
// so every accepted and rejected shape is unit-tested without a model.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "packinfer/chat.h"
#include "packinfer/sampling_params.h"

namespace packinfer::cli {

// Why a request cannot run; becomes an OpenAI error object in the output line.
struct RequestError {
  std::string message;
  std::string code;   // e.g. "invalid_type", "model_not_found"
  std::string param;  // offending field, empty when none applies
};

enum class Endpoint { Completions, ChatCompletions };

struct BatchRequest {
  int64_t line = 0;       // 1-based line number in the input file
  std::string custom_id;  // as given, else "line-<line>"
  Endpoint endpoint = Endpoint::Completions;
  std::string model;                  // as requested (empty: not given)
  std::string prompt;                 // completions
  std::vector<ChatMessage> messages;  // chat completions
  SamplingParams sampling;            // OpenAI defaults, max_tokens set by fit_to_context()
  std::optional<int64_t> max_tokens;  // as requested
  std::optional<RequestError> error;  // set: the request fails with this error
};

// Names a request's "model" may use for the loaded model: file name, file stem, general.name.
std::vector<std::string> accepted_model_names(const std::string& model_path,
                                              const std::string& general_name);

// Warnings are collected per job so each distinct ignored field is reported once, not once per
// line (a million-line job with one extra field must not flood stderr).
class FieldWarnings {
 public:
  // Records that `field` was ignored on `line`; returns true the first time a field is seen.
  bool note(const std::string& field, int64_t line, const std::string& why);
  // Warning messages not yet taken, in the order the fields were first seen.
  std::vector<std::string> take();

 private:
  std::set<std::string> seen_;
  std::vector<std::string> pending_;
};

// Parses one input line. Never throws: a malformed line comes back with `error` set (and
// custom_id "line-<line>" when none could be read).
BatchRequest parse_request_line(std::string_view line, int64_t line_no,
                                const std::vector<std::string>& model_names,
                                FieldWarnings& warnings);

// Once the prompt is tokenized: rejects prompts that are empty or leave no room to generate, and
// sets sampling.max_tokens to the request's value (or the endpoint default) clamped to what fits
// in the context. Returns the error, if any.
std::optional<RequestError> fit_to_context(BatchRequest& req, int64_t n_prompt_tokens,
                                           int64_t n_ctx);

// Default max_tokens of the completions endpoint (OpenAI's).
inline constexpr int64_t kDefaultCompletionMaxTokens = 16;

}  // namespace packinfer::cli
