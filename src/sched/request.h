#pragma once
// One request inside the scheduler, whatever the policy (online serving, offline batch jobs, a
// single generate call): the generating Sequence, its KV blocks, what it still has to compute,
// its callbacks and timings. A preempted request keeps its Sequence (sampler RNG, stop matcher,
// text so far) and only loses its KV, so recomputing it continues exactly where it stopped.
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "kv/kv_cache.h"
#include "packinfer/serving_types.h"
#include "sched/sequence.h"

namespace packinfer {

struct Request {
  using Clock = std::chrono::steady_clock;

  uint64_t id = 0;
  std::unique_ptr<Sequence> seq;
  SequenceKv kv;  // its blocks; kv.n_tokens positions are computed

  // Tokens whose KV the request needs before it can decode: the prompt, and after a preemption
  // also every generated token already fed back. kv.n_tokens < computed_target means the
  // request is (re)prefilling; otherwise the next decode feeds tokens[computed_target..].
  std::vector<int32_t> tokens;  // prompt followed by generated tokens
  int64_t computed_target = 0;
  // Only tokens [0, cache_limit) are published to the prefix cache (a batch job publishes just
  // the prefixes another of its requests shares, so finished requests do not stay resident).
  int64_t cache_limit = std::numeric_limits<int64_t>::max();

  ServingCallbacks callbacks;
  int32_t top_logprobs = -1;  // -1: no logprobs
  std::vector<TokenEvent> logprob_tokens;
  // When set, receives the logits of every prompt position as it is computed (prompt scoring).
  std::function<void(int64_t position, std::span<const float> logits)> on_prompt_logits;
  std::vector<TokenEvent> prompt_logprob_tokens;  // ServingResult::prompt_tokens

  bool sampled_first = false;  // false until the first token is sampled (TTFT)
  bool cancel_requested = false;
  bool done = false;  // on_done has been called
  int32_t preemptions = 0;
  int64_t cached_tokens = 0;  // prompt tokens reused from the prefix cache (first admission)
  bool counted_prompt = false;
  int64_t promised_blocks = 0;  // KV blocks a policy set aside for it (offline admission)
  // Waiting for prompt blocks another server is computing (Scheduler::claim_prefix): since when,
  // and when to look in the shared store again; store_wait_over once it stopped waiting.
  bool store_waiting = false, store_wait_over = false;
  Clock::time_point store_wait_started, store_next_poll;

  Clock::time_point submitted = Clock::now();
  Clock::time_point first_scheduled;
  Clock::time_point first_token;
  bool scheduled = false;

  bool prefilling() const { return kv.n_tokens < computed_target; }
  int64_t remaining_prefill() const { return computed_target - kv.n_tokens; }
  // Tokens the next decode feeds: one sampled token, plus the tokens a grammar forced right
  // after it (jump-forward), which go through the same forward.
  int64_t decode_width() const { return static_cast<int64_t>(tokens.size()) - kv.n_tokens; }
  std::span<const int32_t> target_tokens() const {
    return std::span<const int32_t>(tokens).first(static_cast<size_t>(computed_target));
  }
};

}  // namespace packinfer
