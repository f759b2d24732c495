#pragma once
// One request inside the online scheduler: the generating Sequence plus what serving adds
// (callbacks, timings, preemption state). A preempted request keeps its Sequence (sampler RNG,
// stop matcher, text so far) and only loses its KV, so recomputing it continues exactly where
// it stopped: same tokens, same text.
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "packinfer/serving.h"
#include "sched/sequence.h"

namespace packinfer {

struct LiveRequest {
  using Clock = std::chrono::steady_clock;

  uint64_t id = 0;
  std::unique_ptr<Sequence> seq;
  ServingCallbacks callbacks;
  int32_t top_logprobs = -1;
  std::vector<TokenEvent> logprob_tokens;  // kept for the final result when logprobs are wanted

  // Tokens whose KV the request needs before it can decode: the prompt, and after a preemption
  // also every generated token already fed back. kv.n_tokens < computed_target means the
  // request is (re)prefilling.
  std::vector<int32_t> tokens;  // prompt followed by generated tokens
  int64_t computed_target = 0;
  bool sampled_first = false;  // false until the first token is sampled (TTFT)
  bool cancel_requested = false;
  bool done = false;  // on_done has been called
  int32_t preemptions = 0;
  int64_t cached_tokens = 0;  // prompt tokens reused from the prefix cache (first admission)
  bool counted_prompt = false;

  Clock::time_point submitted;
  Clock::time_point first_scheduled;
  Clock::time_point first_token;
  bool scheduled = false;

  bool prefilling() const { return seq->kv.n_tokens < computed_target; }
  int64_t remaining_prefill() const { return computed_target - seq->kv.n_tokens; }
};

}  // namespace packinfer
