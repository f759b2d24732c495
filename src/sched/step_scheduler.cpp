#include "sched/step_scheduler.h"

#include <algorithm>

#include "batch/job_planner.h"
#include "model/flops.h"
#include "sample/sampler.h"

namespace packinfer {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

StepScheduler::StepScheduler(const StepContext& ctx, const ServingOptions& options)
    : ctx_(ctx), options_(options) {
  options_.max_step_tokens = std::max<int64_t>(1, options_.max_step_tokens);
  options_.max_running = std::max(1, options_.max_running);
}

StepScheduler::~StepScheduler() { cancel_all(); }

void StepScheduler::enqueue(std::unique_ptr<LiveRequest> request) {
  waiting_.push_back(std::move(request));
}

void StepScheduler::cancel(uint64_t id) {
  for (auto& r : waiting_) {
    if (r->id == id) r->cancel_requested = true;
  }
  for (auto& r : running_) {
    if (r->id == id) r->cancel_requested = true;
  }
}

void StepScheduler::cancel_all() {
  for (auto& r : waiting_) r->cancel_requested = true;
  for (auto& r : running_) r->cancel_requested = true;
  finish_cancelled();
}

std::span<const int32_t> StepScheduler::target_tokens(const LiveRequest& r) const {
  return std::span<const int32_t>(r.tokens).first(static_cast<size_t>(r.computed_target));
}

void StepScheduler::step() {
  finish_cancelled();
  std::vector<Piece> pieces;
  if (options_.chunked_prefill) {
    double budget = static_cast<double>(options_.max_step_tokens);
    plan_decodes(pieces, budget);
    plan_prefills(pieces, budget);
    admit(pieces, budget);
  } else {
    // Prompts first, whole, in a step of their own; decodes only when no prompt is ready.
    double budget = static_cast<double>(std::max(options_.max_step_tokens, ctx_.n_ctx));
    plan_prefills(pieces, budget);
    admit(pieces, budget);
    if (pieces.empty()) {
      budget = static_cast<double>(options_.max_step_tokens);
      plan_decodes(pieces, budget);
    }
  }
  if (!pieces.empty()) {
    try {
      execute(pieces, options_.max_step_tokens);
    } catch (const std::exception& e) {
      // A failed forward leaves the KV of this step's requests undefined: fail them all.
      for (const Piece& p : pieces) finish(*p.request, std::string("internal error: ") + e.what());
    }
  }
  remove_finished();
  stats_.steps++;
}

void StepScheduler::finish_cancelled() {
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if ((*it)->cancel_requested) {
      (*it)->seq->finish("cancelled", {});
      finish(**it);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& r : running_) {
    if (r->cancel_requested && !r->done) {
      r->seq->finish("cancelled", {});
      finish(*r);
    }
  }
  remove_finished();
}

double StepScheduler::token_cost(int64_t cached, int64_t n) const {
  if (!options_.chunked_prefill) return static_cast<double>(n);
  // Our attention kernel runs at about 2/3 of the GEMM's FLOP rate, hence the 1.5.
  const ModelConfig& c = ctx_.model.config();
  return static_cast<double>(n) +
         1.5 * attention_flops(c, static_cast<double>(cached), static_cast<double>(n)) /
             layer_flops_per_token(c);
}

int64_t StepScheduler::tokens_within(int64_t cached, int64_t wanted, double budget,
                                     bool first) const {
  if (token_cost(cached, wanted) <= budget) return wanted;
  int64_t lo = 0, hi = wanted;  // cost(lo) <= budget < cost(hi)
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (token_cost(cached, mid) <= budget ? lo : hi) = mid;
  }
  return first ? std::max<int64_t>(lo, 1) : lo;
}

void StepScheduler::plan_decodes(std::vector<Piece>& pieces, double& budget) {
  for (size_t i = 0; i < running_.size(); ++i) {
    LiveRequest& r = *running_[i];
    if (r.done || r.prefilling()) continue;
    if (!reserve_or_preempt(r, r.seq->kv.n_tokens + 1, i)) break;  // r was the newest
    pieces.push_back({&r, 1, true});
    budget -= token_cost(r.seq->kv.n_tokens, 1);  // the new token follows n_tokens positions
  }
}

int64_t StepScheduler::prefill_room(const LiveRequest& r) const {
  const int64_t blocks =
      static_cast<int64_t>(r.seq->kv.blocks.size()) + ctx_.kv.pool().n_available();
  return blocks * ctx_.kv.block_size() - r.seq->kv.n_tokens;
}

void StepScheduler::plan_prefills(std::vector<Piece>& pieces, double& budget) {
  for (auto& rp : running_) {
    LiveRequest& r = *rp;
    if (budget <= 0) break;
    if (r.done || !r.prefilling()) continue;
    const int64_t cached = r.seq->kv.n_tokens;
    int64_t n = std::min(r.remaining_prefill(), prefill_room(r));
    n = tokens_within(cached, n, budget, pieces.empty());
    if (!options_.chunked_prefill && n < r.remaining_prefill()) continue;
    if (n <= 0) continue;  // waits for decodes to free memory
    ctx_.kv.reserve(r.seq->kv, cached + n);
    pieces.push_back({&r, n, false});
    budget -= token_cost(cached, n);
  }
}

bool StepScheduler::shares_uncomputed_prefix(const LiveRequest& r) const {
  for (const auto& a : running_) {
    if (a->done || !a->prefilling()) continue;
    const int64_t shared = common_prefix_length(target_tokens(r), target_tokens(*a));
    if (shared - a->seq->kv.n_tokens >= ctx_.kv.block_size()) return true;
  }
  return false;
}

void StepScheduler::admit(std::vector<Piece>& pieces, double& budget) {
  const int32_t bs = ctx_.kv.block_size();
  for (auto it = waiting_.begin(); it != waiting_.end() && budget > 0 &&
                                   static_cast<int32_t>(running_.size()) < options_.max_running;) {
    LiveRequest& r = **it;
    if (options_.prefix_cache && shares_uncomputed_prefix(r)) {
      ++it;  // its shared blocks are being computed; a later step reuses them
      continue;
    }
    const int64_t hit =
        options_.prefix_cache ? ctx_.kv.match_prefix(r.seq->kv, target_tokens(r)) : 0;
    // Admit only with room for the whole prompt and the first generated token: a request
    // admitted beyond that would mostly be preempted again.
    const int64_t need = KvCache::blocks_for(r.computed_target + 1, bs) -
                         static_cast<int64_t>(r.seq->kv.blocks.size());
    const int64_t remaining = r.computed_target - hit;
    const int64_t n = tokens_within(hit, remaining, budget, pieces.empty());
    const bool fits_budget = n > 0 && (options_.chunked_prefill || n == remaining);
    if (need > ctx_.kv.pool().n_available() || !fits_budget) {
      ctx_.kv.release(r.seq->kv);
      break;  // first come, first served: nobody overtakes for memory
    }
    if (!r.counted_prompt) {
      r.counted_prompt = true;
      r.cached_tokens = hit;
      stats_.prompt_tokens += r.seq->n_prompt();
      stats_.cached_prompt_tokens += hit;
    }
    if (!r.scheduled) {
      r.scheduled = true;
      r.first_scheduled = Clock::now();
    }
    ctx_.kv.reserve(r.seq->kv, hit + n);
    budget -= token_cost(hit, n);
    std::unique_ptr<LiveRequest> owned = std::move(*it);
    it = waiting_.erase(it);
    auto pos = std::upper_bound(running_.begin(), running_.end(), owned->id,
                                [](uint64_t id, const auto& x) { return id < x->id; });
    pieces.push_back({owned.get(), n, false});
    running_.insert(pos, std::move(owned));
  }
}

bool StepScheduler::reserve_or_preempt(LiveRequest& r, int64_t n, size_t index) {
  while (!ctx_.kv.reserve(r.seq->kv, n)) {
    if (running_.size() - 1 > index) {
      preempt(running_.size() - 1);  // the newest request, not yet in this step's batch
    } else {
      preempt(index);
      return false;
    }
  }
  return true;
}

void StepScheduler::preempt(size_t running_index) {
  std::unique_ptr<LiveRequest> v = std::move(running_[running_index]);
  running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(running_index));
  ctx_.kv.release(v->seq->kv);
  // Recompute every token fed so far; the last sampled token is fed by the next decode.
  const int64_t n = static_cast<int64_t>(v->tokens.size());
  v->computed_target = v->sampled_first ? n - 1 : n;
  v->preemptions++;
  stats_.preemptions++;
  waiting_.push_front(std::move(v));
}

void StepScheduler::execute(const std::vector<Piece>& pieces, int64_t forward_limit) {
  // Pieces run in order; in chunked mode they fit one forward, otherwise long prompts are
  // split over consecutive forwards (a sequence's tokens stay in order across them).
  batch_.clear();
  batch_pieces_.clear();
  for (const Piece& p : pieces) {
    LiveRequest& r = *p.request;
    int64_t start = r.seq->kv.n_tokens;
    int64_t left = p.n_tokens;
    while (left > 0) {
      if (batch_.size() >= forward_limit) run_forward();
      const int64_t n = std::min(left, forward_limit - batch_.size());
      // Logits for a decode, and for the end of a prompt whose first token is not sampled yet
      // (a recomputed request continues from the token it already has).
      const bool reaches_end = start + n == r.computed_target;
      const bool wants = n == left && (p.decode || (reaches_end && !r.sampled_first));
      batch_.add(&r.seq->kv,
                 std::span<const int32_t>(r.tokens).subspan(static_cast<size_t>(start),
                                                            static_cast<size_t>(n)),
                 wants ? LogitsWanted::Last : LogitsWanted::None);
      batch_pieces_.push_back({&r, n, p.decode, wants});
      if (!p.decode) stats_.computed_prompt_tokens += n;
      start += n;
      left -= n;
      // The sequence cannot appear twice in one batch: its remaining tokens go to the next.
      if (left > 0) run_forward();
    }
  }
  if (!batch_.empty()) run_forward();
}

void StepScheduler::run_forward() {
  const auto t0 = Clock::now();
  ctx_.transformer.forward(batch_, ctx_.kv, logits_);
  stats_.busy_seconds += seconds(t0, Clock::now());
  const int64_t vocab = ctx_.model.config().n_vocab;
  const int32_t bs = ctx_.kv.block_size();
  if (options_.prefix_cache) {
    for (const Piece& p : batch_pieces_) {
      const SequenceKv& kv = p.request->seq->kv;
      // Decodes fill a block every block_size steps; only then is there anything to index.
      if (!p.decode || kv.n_tokens % bs == 0) ctx_.kv.register_blocks(kv, p.request->tokens);
    }
  }
  size_t row = 0;
  for (const Piece& p : batch_pieces_) {
    if (!p.wants_logits) continue;
    accept(*p.request,
           std::span<const float>(logits_.data() + row * vocab, static_cast<size_t>(vocab)));
    row++;
  }
  batch_.clear();
  batch_pieces_.clear();
}

void StepScheduler::accept(LiveRequest& r, std::span<const float> logits) {
  if (r.done) return;
  std::string text;
  const TextCallback collect = [&text](std::string_view t) {
    text += t;
    return true;
  };
  if (!r.sampled_first) {
    r.sampled_first = true;
    r.first_token = Clock::now();
  }
  Sequence& s = *r.seq;
  const size_t before = s.result().output_ids.size();
  if (s.max_new() == 0) {
    s.finish("length", collect);
  } else {
    s.accept_logits(logits, collect);
  }
  TokenEvent ev;
  if (s.result().output_ids.size() > before) {
    ev.id = s.result().output_ids.back();
    r.tokens.push_back(ev.id);
    r.computed_target = static_cast<int64_t>(r.tokens.size()) - 1;
    stats_.generated_tokens++;
    if (r.top_logprobs >= 0) {
      ev.logprob = token_logprob(logits, ev.id);
      ev.top = top_logprobs(logits, r.top_logprobs);
    }
  } else {
    ev.id = -1;
  }
  ev.text = std::move(text);
  if (ev.id >= 0 || !ev.text.empty()) deliver(r, std::move(ev));
  if (s.finished()) finish(r);
}

void StepScheduler::deliver(LiveRequest& r, TokenEvent event) {
  if (r.top_logprobs >= 0 && event.id >= 0) r.logprob_tokens.push_back(event);
  if (r.callbacks.on_token && !r.callbacks.on_token(event)) {
    r.cancel_requested = true;  // the client is gone: finish at the next step
  }
}

void StepScheduler::finish(LiveRequest& r, const std::string& error) {
  if (r.done) return;
  r.done = true;
  ctx_.kv.release(r.seq->kv);
  const auto now = Clock::now();
  ServingResult res;
  res.generation = std::move(r.seq->result());
  res.generation.cached_tokens = r.cached_tokens;
  res.error = error;
  res.tokens = std::move(r.logprob_tokens);
  res.preemptions = r.preemptions;
  res.e2e_seconds = seconds(r.submitted, now);
  res.queued_seconds = r.scheduled ? seconds(r.submitted, r.first_scheduled) : res.e2e_seconds;
  res.ttft_seconds = r.sampled_first ? seconds(r.submitted, r.first_token) : 0;
  res.generation.prompt_seconds = res.ttft_seconds;
  res.generation.generate_seconds = r.sampled_first ? seconds(r.first_token, now) : 0;
  if (!error.empty()) {
    stats_.requests_failed++;
  } else if (res.generation.finish_reason == "cancelled") {
    stats_.requests_cancelled++;
  } else {
    stats_.requests_finished++;
  }
  if (r.callbacks.on_done) r.callbacks.on_done(res);
}

void StepScheduler::remove_finished() {
  std::erase_if(running_, [](const auto& r) { return r->done; });
}

ServingStats StepScheduler::stats() const {
  ServingStats s = stats_;
  s.queued = static_cast<int64_t>(waiting_.size());
  s.running = static_cast<int64_t>(running_.size());
  const BlockPool& pool = ctx_.kv.pool();
  s.kv_blocks_used = pool.n_used();
  s.kv_blocks_cached = pool.n_cached();
  s.kv_blocks_free = pool.n_free();
  s.kv_blocks_total = pool.n_total();
  s.kv_block_size = ctx_.kv.block_size();
  return s;
}

}  // namespace packinfer
