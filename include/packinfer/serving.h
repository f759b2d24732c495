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
#include "packinfer/serving_types.h"

namespace packinfer {

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
  // Waits until every KV block published so far has been written to the shared KV store (a
  // prefill worker answers only then, so the decode worker it hands over to finds them). No-op
  // without a store.
  void wait_kv_published();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace packinfer
