// libFuzzer target: arbitrary bytes as the body of /v1/completions and /v1/chat/completions, the
// way the server receives them (UTF-8 check, JSON, field validation), then fitting the request
// to a context. Must never crash, hang or throw: every bad body becomes an error object.
#include <cstdint>
#include <string_view>

#include "openai/openai_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace packinfer::api;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ParseOptions options;
  options.model_names = {"stories260K", "stories260K-f32.gguf"};
  options.max_n = 16;
  options.logprobs = true;
  options.stream = true;
  for (Endpoint endpoint : {Endpoint::Completions, Endpoint::ChatCompletions}) {
    CompletionRequest req = openai_defaults(endpoint);
    auto error = parse_request_text(text, endpoint, options, {}, req);
    if (error) continue;
    // A parsed request must survive both context policies at any prompt length.
    for (int64_t n_prompt : {int64_t{0}, int64_t{1}, int64_t{511}, int64_t{512}, int64_t{100000}}) {
      CompletionRequest copy = req;
      (void)fit_to_context(copy, n_prompt, 512, MaxTokensPolicy::Reject);
      copy = req;
      (void)fit_to_context(copy, n_prompt, 512, MaxTokensPolicy::Clamp);
    }
  }
  return 0;
}
