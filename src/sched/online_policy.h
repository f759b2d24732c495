#pragma once
// The online policy (serving): continuous batching with chunked prefill (Sarathi-Serve). Each
// step is one forward under the step budget:
//   1. one token for every decoding request, oldest first (decodes never wait behind prompts);
//   2. the next chunk of every request still prefilling, oldest first;
//   3. new requests in arrival order while budget, sequence slots and KV memory allow. A new
//      request first takes the longest cached prefix of its prompt (whole KV blocks); one that
//      shares an uncomputed block with a request being prefilled waits until that block is
//      computed and cached, so a shared prefix is computed once. With a shared KV store, one
//      whose next blocks another server is computing waits too (Scheduler::claim_prefix),
//      staying queued and looking in the store again on later steps.
// The budget counts cost, not just tokens: a token attending to a long context costs more than
// one at the start (token_cost), so a chunk late in a long prompt is shorter and every step
// takes about the same time — what keeps the decodes' inter-token latency flat.
// The budget itself (ServingOptions::max_step_tokens = 0, the default) is latency-aware: while
// requests decode, a step may cost what the measured step times (StepCostModel) say fits in the
// inter-token latency target (itl_target_ms, by default 5x a decode-only step of as many
// decodes); while nothing decodes there is no latency to protect and a step takes up to 512
// tokens, as an unchunked step would, whatever their attention costs. Nor while requests
// are left waiting after a step's admissions: small mixed steps run prompts at well under the
// rate of 512-token ones (bench/RESULTS.md), so under overload the latency target would cost a
// quarter of the capacity and the queue would grow without bound; once requests have been left
// waiting kBacklogSteps steps in a row, steps take 512 units until the queue is admitted. A fixed
// max_step_tokens overrides all three.
//
// KV blocks are taken as tokens are written. When a decode finds no free block, the newest
// running request is preempted: its blocks are released (full ones stay in the prefix cache)
// and it goes back to the front of the queue, to be recomputed. The oldest request therefore
// always progresses, and since the KV budget holds at least one full context, a request that
// fits the context never fails for lack of KV.
//
// With chunked_prefill off, a step is either prompts only (whole prompts, over as many forwards
// of max_step_tokens as they need) or decodes only: the classic scheduler whose decode stalls
// chunking removes.
#include <cstdint>
#include <vector>

#include "model/model_config.h"
#include "packinfer/serving_types.h"
#include "sched/scheduling_policy.h"
#include "sched/step_cost_model.h"

namespace packinfer {

class OnlinePolicy : public SchedulingPolicy {
 public:
  OnlinePolicy(const ModelConfig& config, int64_t n_ctx, const ServingOptions& options);

  void plan_step(Scheduler& s, std::deque<Forward>& forwards) override;
  void on_step_done(const StepPlan& plan, const StepOutput& output) override;

  // The budget of a chunked step (cost units, decodes included) whose decodes cost
  // `decode_cost`: the fixed max_step_tokens if set, else latency-aware (see above).
  double step_budget(double decode_cost) const;
  const StepCostModel& cost_model() const { return cost_model_; }

  // Steps of the automatic budget cost at most this much (also the unchunked forward size).
  static constexpr int64_t kDefaultStepTokens = 512;
  // The automatic ITL target is this multiple of a decode-only step. A step of T next to decode
  // steps of d leaves the prompt T minus the decodes' share; on 2 cores the decodes' rows and
  // the small chunks' lower efficiency cost more than d/T suggests: in 9 paired runs 3.5x gave
  // the long prompt 1.39-1.66x its unchunked TTFT (mean 1.54x), 5x (about 60 ms here)
  // 1.25-1.57x (mean 1.41x), while the streams' p99/p50 stayed under 2x (bench/RESULTS.md,
  // "Issue #11: the ITL target's default"). The
  // streams' p99/p50 stays near 1 when the median gap is a mixed step (a long prompt's prefill
  // spans most gaps); when mixed steps are a minority of gaps it approaches this factor.
  static constexpr double kAutoItlFactor = 5.0;
  // Prompt cost every step with decodes may add at least, so prompts always progress; and the
  // budget before any step time was measured.
  static constexpr double kMinPromptCost = 16;
  static constexpr double kUncalibratedBudget = 64;
  // Steps in a row that left requests waiting before the budget stops protecting the decodes'
  // latency: a burst of a few arrivals is admitted within a step or two and is not a backlog.
  static constexpr int kBacklogSteps = 4;
  // Cost of computing n tokens after `cached` positions, in units of one token's layer matmuls
  // (chunked mode; otherwise just n).
  double token_cost(int64_t cached, int64_t n) const;

 private:
  void plan_decodes(Scheduler& s, std::vector<Piece>& pieces, double& budget);
  // Prompt chunks and admissions charge the budget token_cost, or plain tokens with
  // `plain_tokens` (a step without decodes under the automatic budget: 512 tokens, as an
  // unchunked step).
  void plan_prefills(Scheduler& s, std::vector<Piece>& pieces, double& budget, bool plain_tokens);
  void admit(Scheduler& s, std::vector<Piece>& pieces, double& budget, bool plain_tokens);
  double charge(int64_t cached, int64_t n, bool plain_tokens) const;
  // How many of `wanted` prompt tokens after `cached` fit in `budget` (at least 1 when `first`,
  // so a step always progresses).
  int64_t tokens_within(int64_t cached, int64_t wanted, double budget, bool first,
                        bool plain_tokens) const;
  int64_t prefill_room(const Scheduler& s, const Request& r) const;
  // Makes r's KV hold n positions, preempting newer requests (newest first) that are not in
  // this step's batch; returns false if r itself had to be preempted.
  bool reserve_or_preempt(Scheduler& s, Request& r, int64_t n, size_t index);
  // Splits the step's pieces into forwards of at most max_step_tokens (a request's tokens stay
  // in order, a request at most once per forward).
  void split(const std::vector<Piece>& pieces, std::deque<Forward>& forwards) const;

  // Tokens per forward in unchunked mode (and the split limit): max_step_tokens or the default.
  int64_t step_limit() const;

  const ModelConfig& config_;
  int64_t n_ctx_;
  ServingOptions options_;
  StepCostModel cost_model_;
  // Consecutive steps after whose admissions requests were still waiting.
  int backlog_steps_ = 0;
};

}  // namespace packinfer
