#pragma once
// The offline policy (batch jobs, and a single generate call as a job of one): every request is
// known up front, so memory is promised rather than preempted. Requests are admitted in waves,
// in the order they were queued (the job planner's order), while a sequence slot is free and the
// KV budget can promise each its prompt and its whole output; a running request therefore never
// runs out of KV. Blocks are only promised at admission: they are taken as tokens are written
// and returned as soon as a request finishes.
// A wave's prompts are prefilled in the forwards the packing planner chooses — packed (bin
// packing to the token budget), padded (the Hugging Face baseline: each forward padded to its
// longest prompt) or single (one prompt at a time) — then every running request decodes one
// token per forward, and the next wave is admitted.
// With prefix caching, a request sharing a not-yet-computed block with one admitted in the same
// wave waits for the next wave, when that block is cached.
#include <cstdint>
#include <vector>

#include "batch/packing_planner.h"
#include "sched/scheduling_policy.h"

namespace packinfer {

struct OfflinePolicyOptions {
  PrefillMode mode = PrefillMode::Packed;
  int64_t max_batch_tokens = 512;  // tokens per prefill forward (padded: no limit)
  int32_t max_seqs = 64;           // requests running at once (single mode: 1)
};

class OfflinePolicy : public SchedulingPolicy {
 public:
  explicit OfflinePolicy(const OfflinePolicyOptions& options);

  void plan_step(Scheduler& s, std::deque<Forward>& forwards) override;
  void on_finished(const Request& r) override;

 private:
  std::vector<Request*> admit(Scheduler& s);
  void plan_prefill(const std::vector<Request*>& wave, std::deque<Forward>& forwards) const;
  void plan_decode(Scheduler& s, std::deque<Forward>& forwards) const;

  OfflinePolicyOptions options_;
  int64_t promised_blocks_ = 0;  // KV blocks promised to running requests
  bool admitted_since_decode_ = false;
};

}  // namespace packinfer
