#pragma once
// POST /v1/completions and /v1/chat/completions: parse and validate the body, tokenize, submit
// n requests to the ServingEngine, then answer with one JSON object or a stream of server-sent
// events. A client that goes away (mid-stream, or while waiting for a whole reply) has its
// requests cancelled.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "http/http_message.h"
#include "openai/openai_request.h"
#include "packinfer/engine.h"
#include "packinfer/serving.h"
#include "server/completion_exchange.h"
#include "server/metrics.h"

namespace packinfer::api {

struct CompletionConfig {
  std::vector<std::string> model_names;  // names a request's "model" may use
  std::string served_name;               // "model" of responses when the request names none
  int32_t max_n = 16;
  size_t max_prompts = 32;  // prompts in one /v1/completions request
  // A prefill worker: each request computes its prompt (one choice, one token, not streamed)
  // and is answered once the prompt's KV blocks are in the shared store.
  bool prefill_only = false;
};

class CompletionHandler {
 public:
  CompletionHandler(Engine& engine, ServingEngine& serving, std::shared_ptr<ServerMetrics> metrics,
                    CompletionConfig config);
  ~CompletionHandler();
  // Answers into `res`, or streams through `out` (then `res` is unused). Blocks until the reply
  // is complete (run it on a worker, not an I/O thread).
  void handle(Endpoint endpoint, const HttpRequest& req, HttpResponse& res, HttpResponder& out);
  // Cancels every request in flight and refuses new ones (the server is stopping; waiting
  // handlers then return).
  void cancel_all();

 private:
  using Exchange = CompletionExchange;
  void warn_ignored(Endpoint endpoint, const std::string& field, const std::string& why);
  std::string next_id(Endpoint endpoint);
  // Submits the n choices; returns the error (and cancels what was submitted) if one is refused.
  // Submits n choices of each prompt (with its own fitted max_tokens); returns the error (and
  // cancels what was submitted) if one is refused.
  std::optional<RequestError> submit_all(const std::shared_ptr<Exchange>& ex,
                                         const CompletionRequest& creq,
                                         const std::vector<std::vector<int32_t>>& prompts,
                                         const std::vector<int32_t>& max_tokens);
  void respond_whole(const std::shared_ptr<Exchange>& ex, const HttpResponder& out,
                     HttpResponse& res);
  // Echo with logprobs: every token of prompt k with the text it adds (see ChoiceResult).
  std::vector<TokenEvent> echoed_prompt_tokens(const Exchange& ex, size_t k) const;
  void respond_stream(const std::shared_ptr<Exchange>& ex, HttpResponder& out);
  void cancel(Exchange& ex);
  std::string token_text(int32_t id) const;

  Engine& engine_;
  ServingEngine& serving_;
  std::shared_ptr<ServerMetrics> metrics_;
  CompletionConfig config_;
  ParseOptions parse_options_;
  std::optional<int32_t> bos_;  // the vocabulary's BOS, if prompts start with one

  std::mutex mu_;  // guards the members below
  FieldWarnings warnings_;
  uint64_t counter_ = 0;
  std::set<std::shared_ptr<Exchange>> active_;
  bool stopping_ = false;
};

}  // namespace packinfer::api
