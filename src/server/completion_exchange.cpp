#include "server/completion_exchange.h"

#include <chrono>

#include "server/sse.h"

namespace packinfer::api {
namespace {

std::string sse_chunk(const ojson& payload) { return sse_event(dump(payload)); }

}  // namespace

CompletionExchange::CompletionExchange(ResponseContext context, int32_t n)
    : ctx(std::move(context)), choices(n), remaining(n) {}

ServingCallbacks CompletionExchange::callbacks(int32_t i, std::shared_ptr<ServerMetrics> metrics) {
  std::shared_ptr<CompletionExchange> self = shared_from_this();
  ServingCallbacks cb;
  if (stream) {
    cb.on_token = [self, i](const TokenEvent& t) {
      {
        std::lock_guard lock(self->mu);
        self->events.push_back({i, false, t});
      }
      self->cv.notify_all();
      return true;
    };
  }
  cb.on_done = [self, i, metrics](const ServingResult& r) {
    metrics->on_request_done(r);
    {
      std::lock_guard lock(self->mu);
      self->choices[i].result = r;
      self->choices[i].done = true;
      self->remaining--;
      if (self->stream) self->events.push_back({i, true, {}});
    }
    self->cv.notify_all();
  };
  return cb;
}

std::vector<uint64_t> CompletionExchange::pending_ids() {
  std::lock_guard lock(mu);
  std::vector<uint64_t> ids;
  for (const Choice& c : choices)
    if (c.submitted && !c.done) ids.push_back(c.id);
  return ids;
}

void CompletionExchange::wait_submitted_done() {
  std::unique_lock lock(mu);
  cv.wait(lock, [&] {
    for (const Choice& c : choices)
      if (c.submitted && !c.done) return false;
    return true;
  });
}

std::string CompletionExchange::next_sse(const TokenTextFn& token_text, int timeout_ms,
                                         bool& finished) {
  std::deque<Event> batch;
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !events.empty(); });
    batch.swap(events);
  }
  std::string out;
  for (Event& ev : batch) {
    Choice& c = choices[ev.index];  // its result is final once its done event was queued
    if (!ev.done) {
      const bool with_logprobs = top_logprobs >= 0 && ev.token.id >= 0;
      if (ev.token.text.empty() && !with_logprobs) continue;
      const ojson lp = with_logprobs
                           ? logprobs_json(ctx.endpoint, {ev.token}, token_text, c.text_bytes)
                           : ojson(nullptr);
      out += sse_chunk(stream_chunk(ctx, ev.index, ev.token.text, std::nullopt, !c.started, lp));
      c.started = true;
      c.text_bytes += static_cast<int64_t>(ev.token.text.size());
    } else if (!c.result.error.empty()) {
      out +=
          sse_chunk(error_json({"generation failed: " + c.result.error, "server_error", "", 500}));
      streamed_done++;
    } else {
      out +=
          sse_chunk(stream_chunk(ctx, ev.index, "", c.result.generation.finish_reason, !c.started));
      c.started = true;
      streamed_done++;
    }
  }
  finished = streamed_done == static_cast<int32_t>(choices.size());
  if (finished) {
    if (include_usage) {
      std::vector<ChoiceResult> results;
      for (const Choice& c : choices) results.push_back({&c.result.generation, nullptr});
      out += sse_chunk(usage_chunk(ctx, usage_json(results, per_prompt)));
    }
    out += kSseDone;
  }
  return out;
}

}  // namespace packinfer::api
