#pragma once
// The state of one completion exchange: its n engine requests, their results, and (streaming)
// the token events not yet written to the client. Shared between the HTTP thread and the engine
// thread's callbacks, so it lives in a shared_ptr and outlives whichever finishes last.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "openai/openai_response.h"
#include "packinfer/serving.h"
#include "server/metrics.h"

namespace packinfer::api {

struct CompletionExchange : std::enable_shared_from_this<CompletionExchange> {
  struct Choice {
    uint64_t id = 0;
    bool submitted = false, done = false;
    ServingResult result;
    // Streaming, touched by the HTTP thread only.
    bool started = false;    // the first chunk (with the chat role) went out
    int64_t text_bytes = 0;  // text streamed so far (completions logprobs text_offset)
  };
  struct Event {
    int32_t index = 0;
    bool done = false;  // the choice finished (its result is final)
    TokenEvent token;
  };

  ResponseContext ctx;
  bool stream = false, include_usage = false;
  int32_t top_logprobs = -1;
  // Choices [k * per_prompt, (k + 1) * per_prompt) are the n choices of prompt k.
  size_t per_prompt = 1;
  // Completions with echo: each prompt's text and token ids.
  bool echo = false;
  std::vector<std::string> prompt_texts;
  std::vector<std::vector<int32_t>> prompt_ids;

  std::mutex mu;  // guards choices' engine-side fields, events, remaining
  std::condition_variable cv;
  std::vector<Choice> choices;
  std::deque<Event> events;   // streaming only
  int32_t remaining = 0;      // choices not done
  int32_t streamed_done = 0;  // finish chunks written (HTTP thread)
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();  // ditto

  CompletionExchange(ResponseContext context, int32_t n);

  // Callbacks for choice `index`: queue its events (streaming), store its result, time it.
  ServingCallbacks callbacks(int32_t index, std::shared_ptr<ServerMetrics> metrics);
  // Ids of the submitted choices that have not finished (to cancel them).
  std::vector<uint64_t> pending_ids();
  // Blocks until every submitted choice is done.
  void wait_submitted_done();

  // Streaming: waits up to `timeout_ms` for events, then returns them as SSE text, ending with
  // the usage chunk (if asked) and [DONE] once every choice finished (`finished` is set then).
  std::string next_sse(const TokenTextFn& token_text, int timeout_ms, bool& finished);
};

}  // namespace packinfer::api
