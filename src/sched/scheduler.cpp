#include "sched/scheduler.h"

#include <algorithm>
#include <string>

#include "batch/job_planner.h"
#include "packinfer/error.h"
#include "sample/sampler.h"

namespace packinfer {
namespace {

double seconds(Request::Clock::time_point from, Request::Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

Scheduler::Scheduler(KvCache& kv, std::unique_ptr<SchedulingPolicy> policy,
                     const SchedulerOptions& options)
    : kv_(kv), policy_(std::move(policy)), options_(options) {}

Scheduler::~Scheduler() { cancel_all(); }

void Scheduler::add(std::unique_ptr<Request> request) { waiting_.push_back(std::move(request)); }

void Scheduler::cancel(uint64_t id) {
  for (auto& r : waiting_) {
    if (r->id == id) r->cancel_requested = true;
  }
  for (auto& r : running_) {
    if (r->id == id) r->cancel_requested = true;
  }
}

void Scheduler::cancel_all() {
  for (auto& r : waiting_) r->cancel_requested = true;
  for (auto& r : running_) r->cancel_requested = true;
  finish_cancelled();
}

void Scheduler::finish_cancelled() {
  auto finish_if_cancelled = [this](Request& r) {
    if (r.cancel_requested && !r.done) {
      r.seq->finish("cancelled", {});
      finish(r);
    }
  };
  for (auto& r : waiting_) finish_if_cancelled(*r);
  for (auto& r : running_) finish_if_cancelled(*r);
  remove_finished();
}

void Scheduler::remove_finished() {
  // Planned forwards must not keep pointers to requests about to be destroyed.
  for (Forward& f : pending_) {
    std::erase_if(f, [](const Piece& p) { return p.request->done; });
  }
  std::erase_if(pending_, [](const Forward& f) { return f.empty(); });
  std::erase_if(waiting_, [](const auto& r) { return r->done; });
  std::erase_if(running_, [](const auto& r) { return r->done; });
}

StepPlan Scheduler::schedule() {
  finish_cancelled();
  // A policy may use one call to admit or reject and find nothing to run yet; a second call
  // then plans with the new state (the offline policy alternates admission and decoding).
  for (int attempt = 0; pending_.empty() && !idle() && attempt < 2; ++attempt) {
    policy_->plan_step(*this, pending_);
    remove_finished();
  }
  while (!pending_.empty()) {
    Forward forward = std::move(pending_.front());
    pending_.pop_front();
    StepPlan plan = materialize(forward);
    if (!plan.empty()) return plan;
  }
  remove_finished();
  return {};
}

StepPlan Scheduler::materialize(const Forward& forward) {
  StepPlan plan;
  in_flight_.clear();
  for (const Piece& p : forward) {
    Request& r = *p.request;
    if (r.done) continue;
    const int64_t start = r.kv.n_tokens;
    const int64_t n = std::min(p.n_tokens, static_cast<int64_t>(r.tokens.size()) - start);
    if (n <= 0) continue;
    if (!kv_.reserve(r.kv, start + n + p.n_padding)) {
      finish(r,
             "KV cache exhausted (" + std::to_string(kv_.capacity_tokens()) +
                 " positions); raise the KV memory budget",
             /*out_of_memory=*/true);
      continue;
    }
    PlannedSequence ps;
    ps.request_id = r.id;
    ps.tokens.assign(r.tokens.begin() + start, r.tokens.begin() + start + n);
    ps.tokens.resize(static_cast<size_t>(n + p.n_padding), options_.pad_token);
    ps.n_padding = p.n_padding;
    ps.pos0 = start;
    ps.blocks = r.kv.blocks;
    ps.decode = p.decode;
    // Logits for a decode, and for the end of a prompt whose first token is not sampled yet (a
    // recomputed request continues from the token it already has).
    const bool sample = p.decode || (start + n == r.computed_target && !r.sampled_first);
    if (r.on_prompt_logits && !p.decode) {
      for (int64_t i = 0; i < n; ++i) ps.logit_rows.push_back(static_cast<int32_t>(i));
    } else if (sample) {
      ps.logit_rows.push_back(static_cast<int32_t>(n - 1));
    }
    plan.sequences.push_back(std::move(ps));
    in_flight_.push_back({&r, p.decode, sample});
  }
  return plan;
}

void Scheduler::update(const StepPlan& plan, const StepOutput& output) {
  if (plan.sequences.size() != in_flight_.size()) {
    throw Error("Scheduler::update needs the plan schedule() returned last");
  }
  stats_.busy_seconds += output.seconds;
  stats_.steps++;
  policy_->on_step_done(plan, output);
  const int32_t bs = kv_.block_size();
  for (size_t i = 0; i < in_flight_.size(); ++i) {
    Request& r = *in_flight_[i].request;
    const PlannedSequence& ps = plan.sequences[i];
    if (ps.request_id != r.id) throw Error("step plan does not match the scheduled requests");
    r.kv.n_tokens = ps.pos0 + ps.n_real();
    if (!in_flight_[i].decode) stats_.computed_prompt_tokens += ps.n_real();
    // Decodes fill a block every block_size tokens; only then is there anything to publish.
    const bool filled_block = r.kv.n_tokens / bs != ps.pos0 / bs;
    if (options_.prefix_cache && (!in_flight_[i].decode || filled_block)) {
      const int64_t limit = std::min(r.cache_limit, static_cast<int64_t>(r.tokens.size()));
      kv_.register_blocks(r.kv,
                          std::span<const int32_t>(r.tokens).first(static_cast<size_t>(limit)));
    }
  }
  int64_t row = 0;
  for (size_t i = 0; i < in_flight_.size(); ++i) {
    Request& r = *in_flight_[i].request;
    const PlannedSequence& ps = plan.sequences[i];
    for (int32_t index : ps.logit_rows) {
      if (r.on_prompt_logits && !ps.decode) r.on_prompt_logits(ps.pos0 + index, output.row(row));
      row++;
    }
    if (in_flight_[i].sample) accept(r, output.row(row - 1));
  }
  in_flight_.clear();
  remove_finished();
}

void Scheduler::fail(const StepPlan& plan, const std::string& error) {
  for (const InFlight& f : in_flight_) finish(*f.request, error);
  in_flight_.clear();
  remove_finished();
}

void Scheduler::accept(Request& r, std::span<const float> logits) {
  if (r.done) return;
  std::string text;
  const TextCallback collect = [&text](std::string_view t) {
    text += t;
    return true;
  };
  if (!r.sampled_first) {
    r.sampled_first = true;
    r.first_token = Request::Clock::now();
  }
  Sequence& s = *r.seq;
  const size_t before = s.result().output_ids.size();
  if (s.max_new() == 0) {
    s.finish("length", collect);
  } else {
    s.accept_logits(logits, collect);
  }
  // Usually one new token; a grammar may add the tokens it forces after it (jump-forward). They
  // are all fed by the next decode, so it starts at the first of them.
  const std::vector<int32_t>& out = s.result().output_ids;
  const size_t added = out.size() - before;
  if (added > 0) r.computed_target = static_cast<int64_t>(r.tokens.size());
  for (size_t k = before; k < out.size(); ++k) {
    TokenEvent ev;
    ev.id = out[k];
    r.tokens.push_back(ev.id);
    stats_.generated_tokens++;
    if (r.top_logprobs >= 0) {
      if (k == before) {
        ev.logprob = token_logprob(logits, ev.id);
        ev.top = top_logprobs(logits, r.top_logprobs);
      } else {
        ev.top = {{ev.id, 0.0f}};  // forced: no logits were computed for it
      }
    }
    if (k + 1 == out.size()) ev.text = std::move(text);  // the text they complete together
    deliver(r, std::move(ev));
  }
  if (added == 0 && !text.empty()) {
    TokenEvent ev;
    ev.id = -1;
    ev.text = std::move(text);
    deliver(r, std::move(ev));
  }
  if (s.finished()) finish(r);
}

void Scheduler::deliver(Request& r, TokenEvent event) {
  if (r.top_logprobs >= 0 && event.id >= 0) r.logprob_tokens.push_back(event);
  if (r.callbacks.on_token && !r.callbacks.on_token(event)) {
    r.cancel_requested = true;  // the client is gone: finish at the next step
  }
}

void Scheduler::finish(Request& r, const std::string& error, bool out_of_memory) {
  if (r.done) return;
  r.done = true;
  kv_.release(r.kv);
  policy_->on_finished(r);
  const auto now = Request::Clock::now();
  ServingResult res;
  res.generation = std::move(r.seq->result());
  res.generation.cached_tokens = r.cached_tokens;
  res.error = error;
  res.out_of_memory = out_of_memory;
  res.tokens = std::move(r.logprob_tokens);
  res.prompt_tokens = std::move(r.prompt_logprob_tokens);
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

bool Scheduler::shares_uncomputed_prefix(const Request& r) const {
  for (const auto& a : running_) {
    if (a->done || !a->prefilling()) continue;
    const int64_t shared = common_prefix_length(r.target_tokens(), a->target_tokens());
    if (shared - a->kv.n_tokens >= kv_.block_size()) return true;
  }
  return false;
}

int64_t Scheduler::match_prefix(Request& r) {
  // Logits of every prompt position are wanted: none of them may come from the cache.
  if (!options_.prefix_cache || r.on_prompt_logits) return 0;
  return kv_.match_prefix(r.kv, r.target_tokens());
}

bool Scheduler::claim_prefix(Request& r) {
  if (!options_.prefix_cache || r.on_prompt_logits || r.store_wait_over) return true;
  const RedisKvStore* store = kv_.store();
  if (store == nullptr) return true;
  const auto now = Request::Clock::now();
  if (kv_.claim_missing(r.kv, r.target_tokens()) == PrefixClaim::Compute) {
    if (r.store_waiting) r.store_wait_over = true;  // the wait is over: what came is loaded
    return true;
  }
  const KvStoreOptions& o = store->options();
  if (!r.store_waiting) {
    r.store_waiting = true;
    r.store_wait_started = now;
    stats_.kv_store_waits++;
  } else if (now - r.store_wait_started > std::chrono::duration<double>(o.marker_wait_seconds)) {
    // The other server is alive (it keeps its marker) but slow: computing beats waiting more.
    r.store_wait_over = true;
    stats_.kv_store_wait_timeouts++;
    return true;
  }
  r.store_next_poll = now + std::chrono::duration_cast<Request::Clock::duration>(
                                std::chrono::duration<double>(o.marker_poll_seconds));
  return false;
}

bool Scheduler::store_poll_pending(const Request& r) const {
  return r.store_waiting && !r.store_wait_over && Request::Clock::now() < r.store_next_poll;
}

std::deque<std::unique_ptr<Request>>::iterator Scheduler::start(
    std::deque<std::unique_ptr<Request>>::iterator it) {
  Request& r = **it;
  if (!r.counted_prompt) {
    r.counted_prompt = true;
    r.cached_tokens = r.kv.n_tokens;
    stats_.prompt_tokens += r.seq->n_prompt();
    stats_.cached_prompt_tokens += r.kv.n_tokens;
  }
  if (!r.scheduled) {
    r.scheduled = true;
    r.first_scheduled = Request::Clock::now();
  }
  std::unique_ptr<Request> owned = std::move(*it);
  it = waiting_.erase(it);
  auto pos = std::upper_bound(running_.begin(), running_.end(), owned->id,
                              [](uint64_t id, const auto& x) { return id < x->id; });
  running_.insert(pos, std::move(owned));
  return it;
}

void Scheduler::preempt(size_t running_index) {
  std::unique_ptr<Request> v = std::move(running_[running_index]);
  running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(running_index));
  kv_.release(v->kv);
  // Recompute every token fed so far; the last sampled token is fed by the next decode.
  const int64_t n = static_cast<int64_t>(v->tokens.size());
  v->computed_target = v->sampled_first ? n - 1 : n;
  v->preemptions++;
  stats_.preemptions++;
  waiting_.push_front(std::move(v));
}

ServingStats Scheduler::stats() const {
  ServingStats s = stats_;
  s.queued = static_cast<int64_t>(waiting_.size());
  s.running = static_cast<int64_t>(running_.size());
  const BlockPool& pool = kv_.pool();
  s.kv_blocks_used = pool.n_used();
  s.kv_blocks_cached = pool.n_cached();
  s.kv_blocks_free = pool.n_free();
  s.kv_blocks_total = pool.n_total();
  s.kv_block_size = kv_.block_size();
  if (const DiskTier* d = kv_.disk_tier()) {
    const DiskTierStats ds = d->stats();
    s.kv_disk = true;
    s.kv_disk_blocks_read = ds.blocks_read;
    s.kv_disk_blocks_written = ds.blocks_written;
    s.kv_disk_bytes_read = ds.bytes_read;
    s.kv_disk_bytes_written = ds.bytes_written;
    s.kv_disk_read_seconds = ds.read_seconds;
    s.kv_disk_write_seconds = ds.write_seconds;
    s.kv_disk_misses = ds.misses;
    s.kv_disk_dropped_writes = ds.dropped_writes;
    s.kv_disk_corrupt = ds.corrupt;
    s.kv_disk_files = ds.files;
    s.kv_disk_bytes = ds.bytes_on_disk;
  }
  if (const RedisKvStore* st = kv_.store()) {
    const KvStoreStats ks = st->stats();
    s.kv_store = true;
    s.kv_store_up = ks.up;
    s.kv_store_blocks_read = ks.blocks_read;
    s.kv_store_blocks_written = ks.blocks_written;
    s.kv_store_bytes_read = ks.bytes_read;
    s.kv_store_bytes_written = ks.bytes_written;
    s.kv_store_read_seconds = ks.read_seconds;
    s.kv_store_write_seconds = ks.write_seconds;
    s.kv_store_lookups = ks.lookups;
    s.kv_store_hit_lookups = ks.hit_lookups;
    s.kv_store_misses = ks.misses;
    s.kv_store_skipped = ks.skipped;
    s.kv_store_timeouts = ks.timeouts;
    s.kv_store_dropped_writes = ks.dropped_writes;
    s.kv_store_rejected = ks.rejected;
    s.kv_store_disconnects = ks.disconnects;
    s.kv_store_claims = ks.claims;
    s.kv_store_claims_busy = ks.claims_busy;
  }
  return s;
}

}  // namespace packinfer
