#include "openai/request_prompt.h"

#include <exception>
#include <string>

namespace packinfer::api {

std::optional<RequestError> prepare_prompt(const Engine& engine, CompletionRequest& req,
                                           MaxTokensPolicy policy, std::vector<int32_t>& ids) {
  const ModelInfo& info = engine.model_info();
  for (const auto& [id, bias] : req.sampling.logit_bias) {
    if (id >= info.n_vocab) {
      return RequestError{"'logit_bias' token id " + std::to_string(id) +
                              " is out of range (vocabulary of " + std::to_string(info.n_vocab) +
                              ")",
                          "invalid_value", "logit_bias"};
    }
  }
  try {
    if (!req.prompt_ids.empty()) {
      for (int32_t id : req.prompt_ids) {
        if (id >= info.n_vocab) {
          return RequestError{"token id " + std::to_string(id) +
                                  " is out of range (vocabulary of " +
                                  std::to_string(info.n_vocab) + ")",
                              "invalid_value", "prompt"};
        }
      }
      ids = req.prompt_ids;
    } else {
      const std::string text = req.endpoint == Endpoint::ChatCompletions
                                   ? engine.apply_chat_template(req.messages, true)
                                   : req.prompt;
      ids = engine.tokenize(text, /*add_special=*/true, /*parse_special=*/true);
    }
  } catch (const std::exception& e) {
    return RequestError{e.what(), "invalid_value", ""};
  }
  return fit_to_context(req, static_cast<int64_t>(ids.size()), info.n_ctx, policy);
}

}  // namespace packinfer::api
