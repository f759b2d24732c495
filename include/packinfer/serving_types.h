#pragma once
// The values of online serving (packinfer/serving.h): options, a request, the streamed token
// events, the final result, the callbacks and the scheduler's counters.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "packinfer/generation.h"

namespace packinfer {

struct ServingOptions {
  // Cost units per step (decodes plus prompt chunks; a prompt token late in a long context costs
  // more than one, see sched/online_policy.h). 0 = automatic: 512 while nothing decodes, else
  // sized from measured step times so that decodes keep their inter-token latency near
  // itl_target_ms. A value > 0 is a fixed budget and wins.
  int64_t max_step_tokens = 0;
  // Inter-token latency the automatic budget aims at while prompts are prefilled beside running
  // decodes, in milliseconds; 0 = automatic: 5x the measured time of a decode-only step.
  double itl_target_ms = 0;
  int32_t max_running = 64;   // requests decoding at once
  int64_t max_queued = 1024;  // waiting requests beyond this are refused (submit throws)
  bool prefix_cache = true;   // reuse cached prompt prefixes
  // false: a prompt runs whole in a prefill-only step (decodes wait for it), the classic
  // vLLM scheduler; kept for comparison.
  bool chunked_prefill = true;
  // Non-empty: one tab-separated line per step is appended to this file (a header first): what
  // the step held (decode rows, prompt tokens, the position its last prompt chunk starts at) and
  // where its time went (planning, the forward, taking the results back). For tuning the step
  // budget; the file is flushed after every line.
  std::string step_log;
};

struct ServingRequest {
  GenerationRequest generation;
  int32_t top_logprobs = -1;  // -1: no logprobs; 0..20: the sampled token's and N alternatives
  // -1: none; 0..20: also the log probability of each prompt token after the first, with N
  // alternatives (OpenAI's echo with logprobs). Such a prompt is computed whole: none of it
  // comes from the prefix cache.
  int32_t prompt_logprobs = -1;
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
  bool out_of_memory = false;      // it failed because the KV cache could not hold it
  std::vector<TokenEvent> tokens;  // with logprobs only (top_logprobs >= 0)
  // With prompt_logprobs >= 0: entry i is prompt token i + 1 given the tokens before it (text
  // empty); the first prompt token has no log probability.
  std::vector<TokenEvent> prompt_tokens;
  double queued_seconds = 0;  // submit until first scheduled
  double ttft_seconds = 0;    // submit until first token
  double e2e_seconds = 0;     // submit until done
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
  // The prefix cache's disk tier (all zero when it is off).
  bool kv_disk = false;
  int64_t kv_disk_blocks_read = 0, kv_disk_blocks_written = 0;
  int64_t kv_disk_bytes_read = 0, kv_disk_bytes_written = 0;
  double kv_disk_read_seconds = 0, kv_disk_write_seconds = 0;
  int64_t kv_disk_misses = 0, kv_disk_dropped_writes = 0, kv_disk_corrupt = 0;
  int64_t kv_disk_files = 0, kv_disk_bytes = 0;
  // The shared KV store (all zero when it is off).
  bool kv_store = false, kv_store_up = false;
  int64_t kv_store_blocks_read = 0, kv_store_blocks_written = 0;
  int64_t kv_store_bytes_read = 0, kv_store_bytes_written = 0;
  double kv_store_read_seconds = 0, kv_store_write_seconds = 0;
  int64_t kv_store_lookups = 0, kv_store_hit_lookups = 0, kv_store_misses = 0;
  int64_t kv_store_skipped = 0, kv_store_timeouts = 0, kv_store_dropped_writes = 0;
  int64_t kv_store_rejected = 0, kv_store_disconnects = 0;
  // "Being computed" markers: claims that took them, claims that found another server computing
  // the blocks, requests that waited for such blocks, and waits that gave up (kv/redis_store.h).
  int64_t kv_store_claims = 0, kv_store_claims_busy = 0;
  int64_t kv_store_waits = 0, kv_store_wait_timeouts = 0;
};

}  // namespace packinfer
