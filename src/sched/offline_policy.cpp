#include "sched/offline_policy.h"

#include <algorithm>
#include <limits>
#include <string>

#include "sched/scheduler.h"

namespace packinfer {

OfflinePolicy::OfflinePolicy(const OfflinePolicyOptions& options) : options_(options) {
  options_.max_batch_tokens = std::max<int64_t>(1, options_.max_batch_tokens);
  options_.max_seqs = options.mode == PrefillMode::Single ? 1 : std::max(1, options.max_seqs);
}

void OfflinePolicy::plan_step(Scheduler& s, std::deque<Forward>& forwards) {
  // Waves alternate with decode steps: admit and prefill, decode every running request once,
  // admit again (requests finished by then have freed their slots and promises).
  if (!admitted_since_decode_) {
    admitted_since_decode_ = true;
    const std::vector<Request*> wave = admit(s);
    if (!wave.empty()) {
      plan_prefill(wave, forwards);
      return;
    }
  }
  admitted_since_decode_ = false;
  plan_decode(s, forwards);
}

std::vector<Request*> OfflinePolicy::admit(Scheduler& s) {
  std::vector<Request*> wave;
  auto& waiting = s.waiting();
  const int64_t total = s.kv().pool().n_total();
  const int32_t bs = s.kv().block_size();
  while (!waiting.empty() && static_cast<int32_t>(s.running().size()) < options_.max_seqs) {
    Request& r = *waiting.front();
    const int64_t need = static_cast<int64_t>(r.tokens.size()) + r.seq->max_new();
    const int64_t blocks = KvCache::blocks_for(need, bs);
    if (promised_blocks_ + blocks > total) {
      if (s.running().empty()) {
        s.finish(r,
                 "request needs " + std::to_string(need) +
                     " KV positions but the KV cache holds only " +
                     std::to_string(s.kv().capacity_tokens()),
                 /*out_of_memory=*/true);
        waiting.pop_front();
        continue;
      }
      break;
    }
    if (s.prefix_cache() && s.shares_uncomputed_prefix(r)) break;
    s.match_prefix(r);
    r.promised_blocks = blocks;
    promised_blocks_ += blocks;
    wave.push_back(&r);
    s.start(waiting.begin());
  }
  return wave;
}

void OfflinePolicy::plan_prefill(const std::vector<Request*>& wave,
                                 std::deque<Forward>& forwards) const {
  std::vector<int64_t> lengths;
  for (const Request* r : wave) lengths.push_back(r->remaining_prefill());
  PackingOptions po;
  po.mode = options_.mode;
  po.max_batch_tokens = options_.max_batch_tokens;
  if (options_.mode == PrefillMode::Padded) {
    // Hugging Face pads the whole batch (up to max_seqs prompts) to its longest prompt in one
    // forward; the token budget does not apply to this baseline.
    po.max_batch_tokens = std::numeric_limits<int64_t>::max() / 4;
    po.max_seqs = options_.max_seqs;
  }
  const PrefillPlan plan = packinfer::plan_prefill(lengths, po);
  for (const PlannedForward& fwd : plan.forwards) {
    int64_t longest = 0;
    for (const PlanPiece& p : fwd.pieces) longest = std::max(longest, p.n_tokens);
    Forward forward;
    for (const PlanPiece& p : fwd.pieces) {
      // Pads go after the real tokens: causal attention keeps them out of every real token's
      // view, and their KV slots are overwritten by later real tokens.
      const int64_t pads = options_.mode == PrefillMode::Padded ? longest - p.n_tokens : 0;
      forward.push_back({wave[static_cast<size_t>(p.prompt)], p.n_tokens, pads, false});
    }
    forwards.push_back(std::move(forward));
  }
}

void OfflinePolicy::plan_decode(Scheduler& s, std::deque<Forward>& forwards) const {
  Forward forward;
  for (auto& r : s.running()) {
    if (r->done || r->prefilling()) continue;
    forward.push_back({r.get(), r->decode_width(), 0, true});
  }
  if (!forward.empty()) forwards.push_back(std::move(forward));
}

void OfflinePolicy::on_finished(const Request& r) { promised_blocks_ -= r.promised_blocks; }

}  // namespace packinfer
