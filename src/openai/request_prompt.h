#pragma once
// From a parsed OpenAI request to the prompt's token ids: chat messages are rendered with the
// model's chat template, text is tokenized, then the length is checked against the context and
// max_tokens fitted (api::fit_to_context). Tokenizing before the scheduler sees the request makes
// the prompt length known, so a too-long prompt fails with its own error.
#include <cstdint>
#include <optional>
#include <vector>

#include "packinfer/engine.h"
#include "openai/openai_request.h"

namespace packinfer::api {

// Fills `ids`; returns the error (never throws for bad input).
std::optional<RequestError> prepare_prompt(const Engine& engine, CompletionRequest& req,
                                           MaxTokensPolicy policy, std::vector<int32_t>& ids);

}  // namespace packinfer::api
