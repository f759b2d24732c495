#include "server/completion_handler.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "server/http_reply.h"
#include "openai/request_prompt.h"

namespace packinfer::api {
namespace {

constexpr auto kHeartbeat = std::chrono::seconds(5);

}  // namespace

CompletionHandler::CompletionHandler(Engine& engine, ServingEngine& serving,
                                     std::shared_ptr<ServerMetrics> metrics,
                                     CompletionConfig config)
    : engine_(engine), serving_(serving), metrics_(std::move(metrics)), config_(std::move(config)) {
  parse_options_.model_names = config_.model_names;
  parse_options_.max_n = config_.max_n;
  parse_options_.logprobs = true;
  parse_options_.stream = true;
  // Stock clients send these; they have no effect here and need no warning.
  parse_options_.silent_fields = {"user", "store", "metadata", "service_tier"};
  const std::vector<int32_t> bos = engine_.tokenize("", /*add_special=*/true, false);
  if (bos.size() == 1) bos_ = bos[0];
}

CompletionHandler::~CompletionHandler() = default;

void CompletionHandler::warn_ignored(Endpoint endpoint, const std::string& field,
                                     const std::string& why) {
  std::lock_guard lock(mu_);
  const char* where = endpoint == Endpoint::Completions ? "a /v1/completions request"
                                                        : "a /v1/chat/completions request";
  if (warnings_.note(field, where, why)) {
    for (const std::string& w : warnings_.take())
      std::fprintf(stderr, "packinfer: warning: %s\n", w.c_str());
  }
}

std::string CompletionHandler::next_id(Endpoint endpoint) {
  // Unique within this process and unlikely to repeat across restarts.
  static const uint64_t salt = std::random_device{}() * 0x9E3779B97F4A7C15ull;
  uint64_t n;
  {
    std::lock_guard lock(mu_);
    n = ++counter_;
  }
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%016llx%08llx", static_cast<unsigned long long>(salt),
                static_cast<unsigned long long>(n));
  return (endpoint == Endpoint::ChatCompletions ? "chatcmpl-" : "cmpl-") + std::string(buf);
}

std::string CompletionHandler::token_text(int32_t id) const {
  // Decoding a token alone drops SentencePiece's leading space (it is the text's first token);
  // after an invisible BOS the token keeps it, as it appears in the generated text.
  if (bos_) {
    const int32_t ids[2] = {*bos_, id};
    std::string s = engine_.detokenize(ids, /*render_special=*/false);
    if (!s.empty()) return s;
  }
  const int32_t ids[1] = {id};
  return engine_.detokenize(ids, /*render_special=*/true);  // special tokens by name
}

void CompletionHandler::cancel(Exchange& ex) {
  for (uint64_t id : ex.pending_ids()) serving_.cancel(id);
}

void CompletionHandler::cancel_all() {
  std::vector<std::shared_ptr<Exchange>> all;
  {
    std::lock_guard lock(mu_);
    all.assign(active_.begin(), active_.end());
  }
  for (auto& ex : all) cancel(*ex);
}

std::optional<RequestError> CompletionHandler::submit_all(const std::shared_ptr<Exchange>& ex,
                                                          const CompletionRequest& creq,
                                                          const std::vector<int32_t>& ids) {
  for (int32_t i = 0; i < creq.n; ++i) {
    ServingRequest sr;
    sr.generation.prompt_ids = ids;
    sr.generation.sampling = creq.sampling;
    // n choices with a seed must differ from each other but be reproducible.
    if (creq.sampling.seed) sr.generation.sampling.seed = *creq.sampling.seed + i;
    sr.top_logprobs = creq.top_logprobs;
    ServingCallbacks cb = ex->callbacks(i, metrics_);
    std::optional<RequestError> error;
    try {
      const uint64_t id = serving_.submit(sr, std::move(cb));
      std::lock_guard lock(ex->mu);
      ex->choices[i].id = id;
      ex->choices[i].submitted = true;
    } catch (const InvalidArgument& e) {
      error = RequestError{e.what(), "invalid_value", ""};
    } catch (const Overloaded& e) {
      error = RequestError{e.what(), "server_overloaded", "", 503};
    } catch (const std::exception& e) {
      error = RequestError{e.what(), "server_error", "", 500};
    }
    if (error) {
      cancel(*ex);
      return error;
    }
  }
  return std::nullopt;
}

void CompletionHandler::handle(Endpoint endpoint, const httplib::Request& req,
                               httplib::Response& res) {
  CompletionRequest creq;
  auto ignored = [&](const std::string& field, const std::string& why) {
    warn_ignored(endpoint, field, why);
  };
  if (auto e = parse_request_text(req.body, endpoint, parse_options_, ignored, creq))
    return send_error(res, *e);
  if (config_.prefill_only) {
    creq.n = 1;
    creq.stream = false;
    creq.max_tokens = 1;
  }
  std::vector<int32_t> ids;
  if (auto e = prepare_prompt(engine_, creq, MaxTokensPolicy::Reject, ids))
    return send_error(res, *e);

  auto ex = std::make_shared<Exchange>(
      ResponseContext{endpoint, next_id(endpoint),
                      creq.model.empty() ? config_.served_name : creq.model,
                      static_cast<int64_t>(std::time(nullptr))},
      creq.n);
  ex->stream = creq.stream;
  ex->include_usage = creq.include_usage;
  ex->top_logprobs = creq.top_logprobs;
  {
    std::lock_guard lock(mu_);
    active_.insert(ex);
  }
  if (auto e = submit_all(ex, creq, ids)) {
    // Refused choices never call on_done; wait for the cancelled ones so none outlives us.
    ex->wait_submitted_done();
    std::lock_guard g(mu_);
    active_.erase(ex);
    return send_error(res, *e);
  }
  if (ex->stream)
    respond_stream(ex, res);
  else
    respond_whole(ex, res);
}

void CompletionHandler::respond_whole(const std::shared_ptr<Exchange>& ex, httplib::Response& res) {
  {
    // httplib 0.11 gives a handler no way to notice that its client went away, so a dropped
    // non-streamed request runs to its end (bounded by max_tokens); see README.
    std::unique_lock lock(ex->mu);
    ex->cv.wait(lock, [&] { return ex->remaining == 0; });
  }
  {
    std::lock_guard lock(mu_);
    active_.erase(ex);
  }
  std::vector<ChoiceResult> choices;
  for (const auto& c : ex->choices) {
    if (!c.result.error.empty())
      return send_error(res, {"generation failed: " + c.result.error, "server_error", "", 500});
    if (c.result.generation.finish_reason == "cancelled")
      return send_error(res, {"the server is shutting down", "server_shutting_down", "", 503});
    choices.push_back({&c.result.generation, ex->top_logprobs >= 0 ? &c.result.tokens : nullptr});
  }
  if (config_.prefill_only) serving_.wait_kv_published();
  send_json(res, completion_json(ex->ctx, choices, [this](int32_t id) { return token_text(id); }));
}

void CompletionHandler::respond_stream(const std::shared_ptr<Exchange>& ex,
                                       httplib::Response& res) {
  auto provider = [this, ex](size_t, httplib::DataSink& sink) -> bool {
    bool finished = false;
    // The timeout keeps the loop responsive to server shutdown while nothing happens.
    std::string out = ex->next_sse([this](int32_t id) { return token_text(id); }, 200, finished);
    // While nothing comes (a long queue or prefill), an SSE comment now and then tells a client
    // that went away from one that waits: writing to the former fails.
    const auto now = std::chrono::steady_clock::now();
    if (!out.empty()) {
      ex->last_write = now;
    } else if (now - ex->last_write > kHeartbeat) {
      out = ": waiting\n\n";
      ex->last_write = now;
    }
    // A failed write means the client is gone: stop generating for it.
    if (!out.empty() && !sink.write(out.data(), out.size())) {
      cancel(*ex);
      return false;
    }
    if (finished) sink.done();
    return true;
  };
  auto releaser = [this, ex](bool) {
    cancel(*ex);  // no-op when every choice finished; the client left or the server stops
    std::lock_guard lock(mu_);
    active_.erase(ex);
  };
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", std::move(provider), std::move(releaser));
}

}  // namespace packinfer::api
