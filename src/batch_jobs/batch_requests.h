#pragma once
// `packinfer batch` input: one JSON request per line, either the OpenAI Batch API envelope
//   {"custom_id": "...", "method": "POST", "url": "/v1/completions", "body": {...}}
// or a bare body {"prompt": "...", ...} (custom_id optional). The body itself is parsed by the
// shared OpenAI request parser (openai/openai_request.h); this file handles the envelope.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "openai/openai_request.h"

namespace packinfer::batch_jobs {

using api::accepted_model_names;
using api::Endpoint;
using api::FieldWarnings;
using api::fit_to_context;
using api::kDefaultCompletionMaxTokens;
using api::RequestError;

struct BatchRequest : api::CompletionRequest {
  int64_t line = 0;                   // 1-based line number in the input file
  std::string custom_id;              // as given, else "line-<line>"
  std::optional<RequestError> error;  // set: the request fails with this error
};

// Parses one input line. Never throws: a malformed line comes back with `error` set (and
// custom_id "line-<line>" when none could be read). Ignored fields are noted in `warnings`.
BatchRequest parse_request_line(std::string_view line, int64_t line_no,
                                const std::vector<std::string>& model_names,
                                FieldWarnings& warnings);

}  // namespace packinfer::batch_jobs
