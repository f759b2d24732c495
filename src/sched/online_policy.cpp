#include "sched/online_policy.h"

#include <algorithm>

#include "model/flops.h"
#include "sched/scheduler.h"

namespace packinfer {

OnlinePolicy::OnlinePolicy(const ModelConfig& config, int64_t n_ctx, const ServingOptions& options)
    : config_(config), n_ctx_(n_ctx), options_(options) {
  options_.max_step_tokens = std::max<int64_t>(0, options_.max_step_tokens);
  options_.max_running = std::max(1, options_.max_running);
}

int64_t OnlinePolicy::step_limit() const {
  return options_.max_step_tokens > 0 ? options_.max_step_tokens : kDefaultStepTokens;
}

double OnlinePolicy::step_budget(double decode_cost) const {
  if (options_.max_step_tokens > 0) return static_cast<double>(options_.max_step_tokens);
  const double most = static_cast<double>(kDefaultStepTokens);
  // Nothing decodes: no inter-token latency to protect, so prompts get large efficient steps.
  if (decode_cost <= 0) return most;
  const double least = decode_cost + kMinPromptCost;
  double target = options_.itl_target_ms / 1000.0;
  if (target <= 0) {
    if (!cost_model_.has_decode_steps()) return std::max(least, decode_cost + kUncalibratedBudget);
    target = kAutoItlFactor * cost_model_.decode_step_seconds(decode_cost);
  }
  if (!cost_model_.calibrated()) return std::max(least, decode_cost + kUncalibratedBudget);
  return std::max(least, std::min(most, cost_model_.cost_within(target)));
}

void OnlinePolicy::on_step_done(const StepPlan& plan, const StepOutput& output) {
  double cost = 0;
  bool has_prompt = false;
  for (const PlannedSequence& ps : plan.sequences) {
    cost += token_cost(ps.pos0, ps.n_real());
    has_prompt = has_prompt || !ps.decode;
  }
  cost_model_.observe(cost, has_prompt, output.seconds);
}

void OnlinePolicy::plan_step(Scheduler& s, std::deque<Forward>& forwards) {
  std::vector<Piece> pieces;
  if (options_.chunked_prefill) {
    // Decodes first, whatever they cost; prompt chunks get what the step budget leaves.
    double budget = 0;
    plan_decodes(s, pieces, budget);
    // With nothing decoding and the automatic budget, a step is sized like an unchunked one:
    // 512 tokens, however long their context. Counting attention cost here would cut a long
    // prompt's late chunks to ~200 tokens that run below the matmuls' rate at 512 rows, with no
    // decode to protect (bench/RESULTS.md, "Issue #11: where a mixed step's time goes").
    const bool plain_tokens = pieces.empty() && options_.max_step_tokens == 0;
    budget +=
        backlog_steps_ >= kBacklogSteps ? static_cast<double>(step_limit()) : step_budget(-budget);
    plan_prefills(s, pieces, budget, plain_tokens);
    admit(s, pieces, budget, plain_tokens);
    backlog_steps_ = s.waiting().empty() ? 0 : backlog_steps_ + 1;
  } else {
    // Prompts first, whole, in a step of their own; decodes only when no prompt is ready.
    double budget = static_cast<double>(std::max(step_limit(), n_ctx_));
    plan_prefills(s, pieces, budget, /*plain_tokens=*/true);
    admit(s, pieces, budget, /*plain_tokens=*/true);
    if (pieces.empty()) {
      budget = static_cast<double>(step_limit());
      plan_decodes(s, pieces, budget);
    }
  }
  split(pieces, forwards);
}

double OnlinePolicy::token_cost(int64_t cached, int64_t n) const {
  if (!options_.chunked_prefill) return static_cast<double>(n);
  // Our attention kernel runs at about 2/3 of the GEMM's FLOP rate, hence the 1.5.
  return static_cast<double>(n) +
         1.5 * attention_flops(config_, static_cast<double>(cached), static_cast<double>(n)) /
             layer_flops_per_token(config_);
}

double OnlinePolicy::charge(int64_t cached, int64_t n, bool plain_tokens) const {
  return plain_tokens ? static_cast<double>(n) : token_cost(cached, n);
}

int64_t OnlinePolicy::tokens_within(int64_t cached, int64_t wanted, double budget, bool first,
                                    bool plain_tokens) const {
  if (charge(cached, wanted, plain_tokens) <= budget) return wanted;
  int64_t lo = 0, hi = wanted;  // cost(lo) <= budget < cost(hi)
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (charge(cached, mid, plain_tokens) <= budget ? lo : hi) = mid;
  }
  return first ? std::max<int64_t>(lo, 1) : lo;
}

void OnlinePolicy::plan_decodes(Scheduler& s, std::vector<Piece>& pieces, double& budget) {
  auto& running = s.running();
  for (size_t i = 0; i < running.size(); ++i) {
    Request& r = *running[i];
    if (r.done || r.prefilling()) continue;
    const int64_t width = r.decode_width();  // 1, or more after tokens a grammar forced
    if (!reserve_or_preempt(s, r, r.kv.n_tokens + width, i)) break;  // r was the newest
    pieces.push_back({&r, width, 0, true});
    budget -= token_cost(r.kv.n_tokens, width);  // the new tokens follow n_tokens positions
  }
}

int64_t OnlinePolicy::prefill_room(const Scheduler& s, const Request& r) const {
  const int64_t blocks = static_cast<int64_t>(r.kv.blocks.size()) + s.kv().pool().n_available();
  return blocks * s.kv().block_size() - r.kv.n_tokens;
}

void OnlinePolicy::plan_prefills(Scheduler& s, std::vector<Piece>& pieces, double& budget,
                                 bool plain_tokens) {
  for (auto& rp : s.running()) {
    Request& r = *rp;
    if (budget <= 0) break;
    if (r.done || !r.prefilling()) continue;
    const int64_t cached = r.kv.n_tokens;
    int64_t n = std::min(r.remaining_prefill(), prefill_room(s, r));
    n = tokens_within(cached, n, budget, pieces.empty(), plain_tokens);
    if (!options_.chunked_prefill && n < r.remaining_prefill()) continue;
    if (n <= 0) continue;  // waits for decodes to free memory
    s.kv().reserve(r.kv, cached + n);
    pieces.push_back({&r, n, 0, false});
    budget -= charge(cached, n, plain_tokens);
  }
}

void OnlinePolicy::admit(Scheduler& s, std::vector<Piece>& pieces, double& budget,
                         bool plain_tokens) {
  const int32_t bs = s.kv().block_size();
  auto& waiting = s.waiting();
  for (auto it = waiting.begin();
       it != waiting.end() && budget > 0 &&
       static_cast<int32_t>(s.running().size()) < options_.max_running;) {
    Request& r = **it;
    if (s.prefix_cache() && s.shares_uncomputed_prefix(r)) {
      ++it;  // its shared blocks are being computed; a later step reuses them
      continue;
    }
    if (s.store_poll_pending(r)) {
      ++it;  // another server computes its prefix; it looks in the store again on a later step
      continue;
    }
    s.match_prefix(r);
    if (!s.claim_prefix(r)) {
      s.kv().release(r.kv);  // what arrived stays cached: the next look starts from there
      ++it;
      continue;
    }
    const int64_t hit = r.kv.n_tokens;
    // Admit only with room for the whole prompt and the first generated token: a request
    // admitted beyond that would mostly be preempted again.
    const int64_t need =
        KvCache::blocks_for(r.computed_target + 1, bs) - static_cast<int64_t>(r.kv.blocks.size());
    const int64_t remaining = r.computed_target - hit;
    const int64_t n = tokens_within(hit, remaining, budget, pieces.empty(), plain_tokens);
    const bool fits_budget = n > 0 && (options_.chunked_prefill || n == remaining);
    if (need > s.kv().pool().n_available() || !fits_budget) {
      s.kv().release(r.kv);
      break;  // first come, first served: nobody overtakes for memory
    }
    s.kv().reserve(r.kv, hit + n);
    budget -= charge(hit, n, plain_tokens);
    pieces.push_back({&r, n, 0, false});
    it = s.start(it);
  }
}

bool OnlinePolicy::reserve_or_preempt(Scheduler& s, Request& r, int64_t n, size_t index) {
  auto& running = s.running();
  while (!s.kv().reserve(r.kv, n)) {
    if (running.size() - 1 > index) {
      s.preempt(running.size() - 1);  // the newest request, not yet in this step's batch
    } else {
      s.preempt(index);
      return false;
    }
  }
  return true;
}

void OnlinePolicy::split(const std::vector<Piece>& pieces, std::deque<Forward>& forwards) const {
  // In chunked mode the pieces fit one forward; otherwise long prompts are split over
  // consecutive forwards (a sequence's tokens stay in order across them).
  const int64_t limit = step_limit();
  Forward current;
  int64_t size = 0;
  auto close = [&] {
    if (!current.empty()) forwards.push_back(std::move(current));
    current.clear();
    size = 0;
  };
  for (const Piece& p : pieces) {
    if (p.decode) {
      // A decode is never cut: its logits come from its last token. It is one token, or a few
      // a grammar forced; a forward may then go a little over the limit.
      if (size > 0 && size + p.n_tokens > limit) close();
      current.push_back(p);
      size += p.n_tokens;
      continue;
    }
    int64_t left = p.n_tokens;
    while (left > 0) {
      if (size >= limit) close();
      const int64_t n = std::min(left, limit - size);
      current.push_back({p.request, n, 0, p.decode});
      size += n;
      left -= n;
      // The sequence cannot appear twice in one forward: its remaining tokens go to the next.
      if (left > 0) close();
    }
  }
  close();
}

}  // namespace packinfer
