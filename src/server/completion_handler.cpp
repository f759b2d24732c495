#include "server/completion_handler.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <random>
#include <span>

#include "openai/request_prompt.h"
#include "server/http_reply.h"

namespace packinfer::api {
namespace {

constexpr auto kHeartbeat = std::chrono::seconds(5);
// How often a handler waiting for a non-streamed result checks that its client is still there.
constexpr auto kDisconnectPoll = std::chrono::milliseconds(100);

}  // namespace

CompletionHandler::CompletionHandler(Engine& engine, ServingEngine& serving,
                                     std::shared_ptr<ServerMetrics> metrics,
                                     CompletionConfig config)
    : engine_(engine), serving_(serving), metrics_(std::move(metrics)), config_(std::move(config)) {
  parse_options_.model_names = config_.model_names;
  parse_options_.max_n = config_.max_n;
  parse_options_.logprobs = true;
  parse_options_.stream = true;
  parse_options_.echo = true;
  parse_options_.max_prompts = config_.max_prompts;
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
    stopping_ = true;
    all.assign(active_.begin(), active_.end());
  }
  for (auto& ex : all) cancel(*ex);
}

std::optional<RequestError> CompletionHandler::submit_all(
    const std::shared_ptr<Exchange>& ex, const CompletionRequest& creq,
    const std::vector<std::vector<int32_t>>& prompts, const std::vector<int32_t>& max_tokens) {
  for (size_t k = 0; k < prompts.size(); ++k) {
    for (int32_t i = 0; i < creq.n; ++i) {
      const size_t index = k * static_cast<size_t>(creq.n) + static_cast<size_t>(i);
      ServingRequest sr;
      sr.generation.prompt_ids = prompts[k];
      sr.generation.sampling = creq.sampling;
      sr.generation.sampling.max_tokens = max_tokens[k];
      // n choices with a seed must differ from each other but be reproducible.
      if (creq.sampling.seed) sr.generation.sampling.seed = *creq.sampling.seed + i;
      sr.top_logprobs = creq.top_logprobs;
      // The prompt's log probabilities are the same for its n choices: the first computes them.
      if (creq.echo && i == 0) sr.prompt_logprobs = creq.top_logprobs;
      ServingCallbacks cb = ex->callbacks(static_cast<int32_t>(index), metrics_);
      std::optional<RequestError> error;
      try {
        const uint64_t id = serving_.submit(sr, std::move(cb));
        std::lock_guard lock(ex->mu);
        ex->choices[index].id = id;
        ex->choices[index].submitted = true;
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
  }
  return std::nullopt;
}

void CompletionHandler::handle(Endpoint endpoint, const HttpRequest& req, HttpResponse& res,
                               HttpResponder& out) {
  CompletionRequest creq;
  auto ignored = [&](const std::string& field, const std::string& why) {
    warn_ignored(endpoint, field, why);
  };
  if (auto e = parse_request_text(req.body, endpoint, parse_options_, ignored, creq))
    return send_error(res, *e);
  if (config_.prefill_only) {
    // A prefill worker computes the prompt(s) once: one choice, one token, not streamed.
    creq.n = 1;
    creq.stream = false;
    creq.max_tokens = 1;
  }
  // Completions may carry a batch of prompts; each is tokenized and checked on its own.
  const size_t n_prompts = endpoint == Endpoint::Completions ? creq.prompts.size() : 1;
  std::vector<std::vector<int32_t>> prompts(n_prompts);
  std::vector<int32_t> max_tokens(n_prompts);
  for (size_t k = 0; k < n_prompts; ++k) {
    if (endpoint == Endpoint::Completions) select_prompt(creq, k);
    if (auto e = prepare_prompt(engine_, creq, MaxTokensPolicy::Reject, prompts[k])) {
      if (n_prompts > 1 && e->param == "prompt") e->param = "prompt[" + std::to_string(k) + "]";
      return send_error(res, *e);
    }
    max_tokens[k] = creq.sampling.max_tokens;
  }

  const size_t n_choices = n_prompts * static_cast<size_t>(creq.n);
  auto ex = std::make_shared<Exchange>(
      ResponseContext{endpoint, next_id(endpoint),
                      creq.model.empty() ? config_.served_name : creq.model,
                      static_cast<int64_t>(std::time(nullptr))},
      static_cast<int32_t>(n_choices));
  ex->stream = creq.stream;
  ex->include_usage = creq.include_usage;
  ex->top_logprobs = creq.top_logprobs;
  ex->per_prompt = static_cast<size_t>(creq.n);
  if (creq.echo) {
    ex->echo = true;
    for (size_t k = 0; k < n_prompts; ++k) {
      const PromptInput& p = creq.prompts[k];
      // A text prompt is echoed as given; token ids as their text.
      ex->prompt_texts.push_back(
          p.ids.empty() ? p.text : engine_.detokenize(p.ids, /*render_special=*/false));
    }
    ex->prompt_ids = prompts;
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_)
      return send_error(res, {"the server is shutting down", "server_shutting_down", "", 503});
    active_.insert(ex);
  }
  if (auto e = submit_all(ex, creq, prompts, max_tokens)) {
    // Refused choices never call on_done; wait for the cancelled ones so none outlives us.
    ex->wait_submitted_done();
    std::lock_guard g(mu_);
    active_.erase(ex);
    return send_error(res, *e);
  }
  if (ex->stream)
    respond_stream(ex, out);
  else
    respond_whole(ex, out, res);
}

std::vector<TokenEvent> CompletionHandler::echoed_prompt_tokens(const Exchange& ex,
                                                                size_t k) const {
  const std::vector<int32_t>& ids = ex.prompt_ids[k];
  const std::vector<TokenEvent>& scored = ex.choices[k * ex.per_prompt].result.prompt_tokens;
  std::vector<TokenEvent> out(ids.size());
  // Each token's text is what it adds to the detokenized prompt so far, so the text offsets
  // add up (a token alone may detokenize differently, e.g. SentencePiece's leading space).
  std::string before;
  for (size_t i = 0; i < ids.size(); ++i) {
    TokenEvent& t = out[i];
    t.id = ids[i];
    if (i == 0) {
      t.logprob = std::numeric_limits<float>::quiet_NaN();  // nothing before it to condition on
    } else if (i - 1 < scored.size()) {
      t.logprob = scored[i - 1].logprob;
      t.top = scored[i - 1].top;
    }
    std::string now = engine_.detokenize(std::span<const int32_t>(ids).first(i + 1), false);
    t.text = now.size() >= before.size() ? now.substr(before.size()) : std::string();
    before = std::move(now);
  }
  return out;
}

void CompletionHandler::respond_whole(const std::shared_ptr<Exchange>& ex, const HttpResponder& out,
                                      HttpResponse& res) {
  bool gone = false;
  {
    // Wait for the choices; a client that went away meanwhile (the transport's pending read on
    // its socket saw it close) has them cancelled: it would otherwise run to max_tokens for
    // nobody.
    std::unique_lock lock(ex->mu);
    while (!ex->cv.wait_for(lock, kDisconnectPoll, [&] { return ex->remaining == 0; })) {
      lock.unlock();
      gone = out.client_gone();
      if (gone) cancel(*ex);
      lock.lock();
      if (gone) {
        ex->cv.wait(lock, [&] { return ex->remaining == 0; });
        break;
      }
    }
  }
  {
    std::lock_guard lock(mu_);
    active_.erase(ex);
  }
  std::vector<std::vector<TokenEvent>> prompt_tokens(ex->prompt_ids.size());
  std::vector<ChoiceResult> choices;
  for (size_t i = 0; i < ex->choices.size(); ++i) {
    const auto& c = ex->choices[i];
    if (!c.result.error.empty())
      return send_error(res, {"generation failed: " + c.result.error, "server_error", "", 500});
    // Nobody reads this reply; 499 (nginx's "client closed request") keeps /metrics honest.
    if (c.result.generation.finish_reason == "cancelled" && gone)
      return send_error(res, {"the client closed the connection", "client_closed", "", 499});
    if (c.result.generation.finish_reason == "cancelled")
      return send_error(res, {"the server is shutting down", "server_shutting_down", "", 503});
    ChoiceResult cr{&c.result.generation, ex->top_logprobs >= 0 ? &c.result.tokens : nullptr};
    if (ex->echo) {
      const size_t k = i / ex->per_prompt;
      cr.echo = &ex->prompt_texts[k];
      if (ex->top_logprobs >= 0) {
        if (i % ex->per_prompt == 0) prompt_tokens[k] = echoed_prompt_tokens(*ex, k);
        cr.prompt_tokens = &prompt_tokens[k];
      }
    }
    choices.push_back(cr);
  }
  if (config_.prefill_only) serving_.wait_kv_published();
  send_json(res,
            completion_json(
                ex->ctx, choices, [this](int32_t id) { return token_text(id); }, ex->per_prompt));
}

void CompletionHandler::respond_stream(const std::shared_ptr<Exchange>& ex, HttpResponder& out) {
  out.start_stream({.status = 200,
                    .content_type = "text/event-stream",
                    .headers = {{"Cache-Control", "no-cache"}},
                    .body = {}});
  bool finished = false;
  while (!finished) {
    // The timeout keeps the loop responsive to a client that left while nothing happens.
    std::string chunk = ex->next_sse([this](int32_t id) { return token_text(id); }, 200, finished);
    // While nothing comes (a long queue or prefill), an SSE comment now and then keeps
    // intermediaries from timing the stream out.
    const auto now = std::chrono::steady_clock::now();
    if (!chunk.empty()) {
      ex->last_write = now;
    } else if (now - ex->last_write > kHeartbeat) {
      chunk = ": waiting\n\n";
      ex->last_write = now;
    }
    // A client that is gone (or reads nothing) gets nothing more generated.
    if (out.client_gone() || (!chunk.empty() && !out.write_chunk(std::move(chunk)))) break;
  }
  cancel(*ex);  // no-op when every choice finished; the client left or the server stops
  std::lock_guard lock(mu_);
  active_.erase(ex);
}

}  // namespace packinfer::api
