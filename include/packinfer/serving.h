#pragma once
// Online serving: requests arrive at any time from any thread, one engine thread runs steps.
// Every step is one token batch under a token budget (Sarathi-Serve): one token for every
// decoding request first, then chunks of waiting prompts in arrival order (chunked prefill).
// Prompts reuse the longest cached prefix of whole KV blocks (automatic prefix caching). When
// the KV cache runs out, the newest running request is preempted: its blocks are freed and it
// is recomputed later, so a request that fits the context never fails for lack of KV.
//
//   packinfer::ServingEngine serving(engine, {});
//   uint64_t id = serving.submit(request, {.on_token = ..., .on_done = ...});
//   serving.cancel(id);   // from any thread; takes effect at the next step
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "packinfer/engine.h"

namespace packinfer {

struct ServingOptions {
  int64_t max_step_tokens = 512;  // tokens per step (decodes + prompt chunks)
  int32_t max_running = 64;       // requests decoding at once
  int64_t max_queued = 1024;      // waiting requests beyond this are refused (submit throws)
  bool prefix_cache = true;       // reuse cached prompt prefixes
  // false: a prompt runs whole in a prefill-only step (decodes wait for it), the classic
  // vLLM scheduler; kept for comparison.
  bool chunked_prefill = true;
};

struct ServingRequest {
  GenerationRequest generation;
  int32_t top_logprobs = -1;  // -1: no logprobs; 0..20: the sampled token's and N alternatives
};

// One generated token, streamed as soon as it is sampled. At the end a request may release text
// it held back (a possible stop string, an incomplete character) with no new token: id is then
// -1. Concatenating every event's text gives the result's text.
struct TokenEvent {
  int32_t id = 0;
  std::string text;  // text this token completes (may be empty: held back for UTF-8 or stop)
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // top_logprobs alternatives, most likely first
};

struct ServingResult {
  GenerationResult generation;     // text, ids, finish_reason ("stop", "length", "cancelled")
  std::string error;               // non-empty: the request failed (generation is partial)
  std::vector<TokenEvent> tokens;  // with logprobs only (top_logprobs >= 0)
  double queued_seconds = 0;       // submit until first scheduled
  double ttft_seconds = 0;         // submit until first token
  double e2e_seconds = 0;          // submit until done
  int32_t preemptions = 0;
};

struct ServingCallbacks {
  // Called on the engine thread for each token; keep it short. Return false to cancel.
  std::function<bool(const TokenEvent&)> on_token;
  // Called exactly once, on the engine thread (or in submit() for a request refused there).
  std::function<void(const ServingResult&)> on_done;
};

// A snapshot of the scheduler's state and counters since start.
struct ServingStats {
  int64_t queued = 0, running = 0;
  int64_t kv_blocks_used = 0, kv_blocks_cached = 0, kv_blocks_free = 0, kv_blocks_total = 0;
  int64_t kv_block_size = 0;
  int64_t prompt_tokens = 0;         // prompt tokens of finished and running requests
  int64_t cached_prompt_tokens = 0;  // of those, served from the prefix cache
  int64_t computed_prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t preemptions = 0;
  int64_t requests_finished = 0, requests_cancelled = 0, requests_failed = 0;
  int64_t steps = 0;
  double busy_seconds = 0;  // time spent in forwards
};

class ServingEngine {
 public:
  // Starts the engine thread. The engine must outlive this object and must not be used for
  // anything else meanwhile (the serving thread owns its KV cache).
  ServingEngine(Engine& engine, const ServingOptions& options);
  ~ServingEngine();  // cancels everything still running and joins the thread
  ServingEngine(const ServingEngine&) = delete;
  ServingEngine& operator=(const ServingEngine&) = delete;

  // Tokenizes and validates on the calling thread: throws InvalidArgument (bad sampling values,
  // empty prompt, prompt too long for the context: the message names both lengths) or Error
  // (Overloaded: queue full, shutting down). Otherwise queues the request and returns its id.
  uint64_t submit(const ServingRequest& request, ServingCallbacks callbacks);
  // Cancels a queued or running request (no-op if it already finished). Its on_done reports
  // finish_reason "cancelled"; its KV is freed at the next step.
  void cancel(uint64_t id);

  ServingStats stats() const;
  const ServingOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace packinfer
