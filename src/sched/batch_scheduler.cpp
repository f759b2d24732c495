#include "sched/batch_scheduler.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>

#include "batch/job_planner.h"
#include "batch/packing_planner.h"
#include "batch/token_batch.h"
#include "model/flops.h"
#include "sched/sequence.h"

namespace packinfer {
namespace {

using Clock = std::chrono::steady_clock;

struct Active {
  size_t index = 0;
  int64_t shareable = 0;  // prompt tokens shared with another request of the job
  int64_t committed_blocks = 0;
  std::unique_ptr<Sequence> seq;
};

class BatchRun {
 public:
  BatchRun(BatchContext& ctx, const std::vector<GenerationRequest>& requests,
           const BatchOptions& options, const BatchDoneCallback& on_done,
           const BatchProgressCallback& on_progress)
      : ctx_(ctx),
        requests_(requests),
        options_(options),
        on_done_(on_done),
        on_progress_(on_progress),
        results_(requests.size()),
        t0_(Clock::now()) {
    budget_ = options.max_batch_tokens > 0 ? options.max_batch_tokens : ctx.default_budget;
    max_seqs_ = options.mode == PrefillMode::Single ? 1 : std::max(1, options.max_seqs);
    progress_.total = static_cast<int64_t>(requests.size());
  }

  std::vector<BatchItemResult> run(BatchStats* stats) {
    // Activation memory is reported per job: start from empty scratch.
    ctx_.transformer.release_scratch();
    ctx_.kv.trim_if_idle();
    prepare();
    while (!waiting_.empty() || !running_.empty()) {
      std::vector<Active*> admitted = admit();
      if (!admitted.empty()) prefill(admitted);
      decode_step();
      retire();
    }
    stats_.makespan_seconds = elapsed();
    ctx_.kv.trim_if_idle();  // the job's KV pages go back to the OS
    stats_.packing_efficiency =
        prefill_slots_ > 0 ? static_cast<double>(stats_.prompt_tokens) / prefill_slots_ : 0;
    if (peak_flops_per_s_ > 0) stats_.lower_bound_seconds = total_flops_ / peak_flops_per_s_;
    if (stats != nullptr) *stats = stats_;
    return std::move(results_);
  }

 private:
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

  void finish_with_error(size_t i, const std::string& message) {
    results_[i].error = message;
    results_[i].finish_seconds = elapsed();
    report_done(i);
  }

  void report_done(size_t i) {
    progress_.done++;
    progress_.elapsed_seconds = elapsed();
    if (on_done_) on_done_(i, results_[i]);
    if (on_progress_) on_progress_(progress_);
  }

  // Tokenizes and checks every request; orders the valid ones (offline job planning).
  void prepare() {
    std::vector<size_t> valid;
    std::vector<JobRequest> jobs;
    prepared_.resize(requests_.size());
    for (size_t i = 0; i < requests_.size(); ++i) {
      try {
        prepared_[i] = prepare_request(ctx_.model.tokenizer(), requests_[i], ctx_.n_ctx);
        valid.push_back(i);
        jobs.push_back({prepared_[i].prompt_ids, prepared_[i].max_new});
      } catch (const std::exception& e) {
        finish_with_error(i, e.what());
      }
    }
    // Only prefixes another request of the job shares are worth caching: caching the rest would
    // keep every finished request's KV resident (cached blocks are evicted only when the free
    // ones run out), growing the job's RSS for nothing.
    const std::vector<int64_t> shared = longest_shared_prefixes(jobs);
    shareable_.assign(requests_.size(), 0);
    for (size_t k = 0; k < valid.size(); ++k) shareable_[valid[k]] = shared[k];
    if (options_.plan_order && options_.mode != PrefillMode::Single && !jobs.empty()) {
      JobPlan plan = plan_jobs(jobs);
      for (int64_t k : plan.order) waiting_.push_back(valid[static_cast<size_t>(k)]);
    } else {
      waiting_.assign(valid.begin(), valid.end());
    }
  }

  // Admits waiting requests while a sequence slot is free and the KV budget can promise the
  // request its prompt and its whole output, so a running request never runs out of KV. Blocks
  // are only promised here; they are taken from the pool when tokens are written, and returned
  // as soon as a request finishes, so the KV in use stays close to what is live.
  std::vector<Active*> admit() {
    std::vector<Active*> admitted;
    const int32_t vocab = ctx_.model.config().n_vocab;
    const int64_t total = ctx_.kv.pool().n_total();
    while (!waiting_.empty() && static_cast<int32_t>(running_.size()) < max_seqs_) {
      size_t i = waiting_.front();
      PreparedRequest& p = prepared_[i];
      const int64_t need = static_cast<int64_t>(p.prompt_ids.size()) + p.max_new;
      const int64_t blocks = KvCache::blocks_for(need, ctx_.kv.block_size());
      if (committed_blocks_ + blocks > total) {
        if (running_.empty()) {
          waiting_.pop_front();
          finish_with_error(i, "request needs " + std::to_string(need) +
                                   " KV positions but the KV cache holds only " +
                                   std::to_string(ctx_.kv.capacity_tokens()));
          continue;
        }
        break;
      }
      if (options_.prefix_cache && shares_uncomputed_prefix(p.prompt_ids, admitted)) break;
      waiting_.pop_front();
      auto a = std::make_unique<Active>();
      a->index = i;
      a->shareable = shareable_[i];
      a->committed_blocks = blocks;
      a->seq = std::make_unique<Sequence>(ctx_.model.tokenizer(), requests_[i].sampling,
                                          std::move(p.prompt_ids), p.max_new, vocab);
      committed_blocks_ += blocks;
      if (options_.prefix_cache) {
        const int64_t hit = ctx_.kv.match_prefix(a->seq->kv, a->seq->prompt());
        a->seq->prefilled = hit;
        a->seq->result().cached_tokens = hit;
        stats_.cached_prompt_tokens += hit;
      }
      running_.push_back(std::move(a));
      admitted.push_back(running_.back().get());
    }
    return admitted;
  }

  // True when `prompt` shares at least one whole KV block beyond what the cache already holds
  // with a request admitted in this wave: computing it twice in one wave would waste the reuse,
  // so such a request waits for the next wave, when the shared blocks are cached.
  bool shares_uncomputed_prefix(const std::vector<int32_t>& prompt,
                                const std::vector<Active*>& admitted) const {
    for (const Active* a : admitted) {
      const int64_t shared = common_prefix_length(prompt, a->seq->prompt());
      if (shared - a->seq->prefilled >= ctx_.kv.block_size()) return true;
    }
    return false;
  }

  // Takes blocks from the pool so seq can hold n positions (promised at admission).
  void ensure_kv(Sequence& s, int64_t n) {
    if (!ctx_.kv.reserve(s.kv, n)) {
      throw Error("KV cache exhausted (" + std::to_string(ctx_.kv.capacity_tokens()) +
                  " positions); raise the KV memory budget");
    }
  }

  void track_kv() {
    int64_t used = static_cast<int64_t>(ctx_.kv.pool().n_used()) *
                   KvCache::block_bytes(ctx_.model.config(), ctx_.kv.block_size());
    stats_.peak_kv_bytes = std::max(stats_.peak_kv_bytes, used);
  }

  // Runs the prompts of newly admitted requests in the forwards the packing planner chooses, and
  // samples each request's first token from its last prompt position.
  void prefill(const std::vector<Active*>& admitted) {
    std::vector<int64_t> lengths;
    for (Active* a : admitted) lengths.push_back(a->seq->n_prompt() - a->seq->prefilled);
    PackingOptions po;
    po.mode = options_.mode;
    po.max_batch_tokens = budget_;
    if (options_.mode == PrefillMode::Padded) {
      // Hugging Face pads the whole batch (up to max_seqs prompts) to its longest prompt in
      // one forward; the token budget does not apply to this baseline.
      po.max_batch_tokens = std::numeric_limits<int64_t>::max() / 4;
      po.max_seqs = max_seqs_;
    }
    PrefillPlan plan = plan_prefill(lengths, po);
    const int64_t vocab = ctx_.model.config().n_vocab;
    const int32_t pad = std::max(0, ctx_.model.tokenizer().eos_id());
    for (const PlannedForward& fwd : plan.forwards) {
      auto start = Clock::now();
      int64_t longest = 0;
      for (const PlanPiece& p : fwd.pieces) longest = std::max(longest, p.n_tokens);
      batch_.clear();
      std::vector<Active*> completing;
      std::vector<std::pair<Active*, int64_t>> padded;  // sequence, real length after forward
      for (const PlanPiece& p : fwd.pieces) {
        Active* a = admitted[static_cast<size_t>(p.prompt)];
        Sequence& s = *a->seq;
        const int64_t offset = s.prefilled + p.offset;  // position of the piece in the prompt
        const bool last = offset + p.n_tokens == s.n_prompt();
        std::span<const int32_t> toks(s.prompt().data() + offset, static_cast<size_t>(p.n_tokens));
        if (options_.mode == PrefillMode::Padded && p.n_tokens < longest) {
          // Pads go after the real tokens: causal attention keeps them out of every real
          // token's view, and their KV slots are overwritten by later real tokens.
          std::vector<int32_t> with_pads(toks.begin(), toks.end());
          with_pads.resize(static_cast<size_t>(longest), pad);
          ensure_kv(s, offset + longest);
          const int64_t begin = batch_.size();
          batch_.add(&s.kv, with_pads, LogitsWanted::None);
          if (last) batch_.logit_rows.push_back(begin + p.n_tokens - 1);
          padded.emplace_back(a, offset + p.n_tokens);
          stats_.padding_tokens += longest - p.n_tokens;
        } else {
          ensure_kv(s, offset + p.n_tokens);
          batch_.add(&s.kv, toks, last ? LogitsWanted::Last : LogitsWanted::None);
        }
        if (last) completing.push_back(a);
      }
      run_forward();
      for (auto& [a, real] : padded) a->seq->kv.n_tokens = real;
      if (options_.prefix_cache) {
        for (const PlanPiece& p : fwd.pieces) {
          const Active& a = *admitted[static_cast<size_t>(p.prompt)];
          const auto shared =
              std::span<const int32_t>(a.seq->prompt()).first(static_cast<size_t>(a.shareable));
          ctx_.kv.register_blocks(a.seq->kv, shared);
        }
      }
      stats_.prompt_tokens += fwd.real_tokens;
      progress_.prompt_tokens += fwd.real_tokens;
      prefill_slots_ += options_.mode == PrefillMode::Padded ? fwd.slots : budget_;
      stats_.peak_activation_bytes =
          std::max(stats_.peak_activation_bytes, ctx_.transformer.scratch_bytes());
      for (size_t r = 0; r < completing.size(); ++r) {
        Active* a = completing[r];
        a->seq->prefilled = a->seq->n_prompt();
        results_[a->index].ttft_seconds = elapsed();
        stats_.all_first_tokens_seconds =
            std::max(stats_.all_first_tokens_seconds, results_[a->index].ttft_seconds);
        accept(*a, std::span<const float>(logits_.data() + r * vocab, static_cast<size_t>(vocab)));
      }
      stats_.prefill_seconds += std::chrono::duration<double>(Clock::now() - start).count();
      retire();  // prefill-only requests free their KV before the next forward
    }
  }

  // One forward of batch_, counting its FLOPs and the best rate seen (the "measured peak" the
  // makespan lower bound divides by).
  void run_forward() {
    const double flops = forward_flops(ctx_.model.config(), batch_);
    auto start = Clock::now();
    ctx_.transformer.forward(batch_, ctx_.kv, logits_);
    track_kv();
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    stats_.n_forwards++;
    total_flops_ += flops;
    if (s > 0) peak_flops_per_s_ = std::max(peak_flops_per_s_, flops / s);
  }

  void accept(Active& a, std::span<const float> logits) {
    if (a.seq->max_new() == 0) {
      a.seq->finish("length", {});
      return;
    }
    a.seq->accept_logits(logits, {});
    stats_.generated_tokens++;
    progress_.generated_tokens++;
  }

  // One decode step: the last sampled token of every running sequence, in one token batch.
  void decode_step() {
    batch_.clear();
    std::vector<Active*> stepping;
    for (auto& a : running_) {
      Sequence& s = *a->seq;
      if (s.finished() || s.prefilled < s.n_prompt()) continue;
      int32_t tok = s.next_token();
      ensure_kv(s, s.kv.n_tokens + 1);
      batch_.add(&s.kv, std::span<const int32_t>(&tok, 1), LogitsWanted::Last);
      stepping.push_back(a.get());
    }
    if (stepping.empty()) return;
    run_forward();
    const int64_t vocab = ctx_.model.config().n_vocab;
    for (size_t r = 0; r < stepping.size(); ++r) {
      accept(*stepping[r],
             std::span<const float>(logits_.data() + r * vocab, static_cast<size_t>(vocab)));
    }
  }

  // Frees the KV blocks of finished sequences and reports them.
  void retire() {
    for (auto it = running_.begin(); it != running_.end();) {
      Active& a = **it;
      if (!a.seq->finished()) {
        ++it;
        continue;
      }
      ctx_.kv.release(a.seq->kv);
      committed_blocks_ -= a.committed_blocks;
      BatchItemResult& r = results_[a.index];
      r.result = std::move(a.seq->result());
      r.finish_seconds = elapsed();
      r.result.prompt_seconds = r.ttft_seconds;
      r.result.generate_seconds = r.finish_seconds - r.ttft_seconds;
      size_t index = a.index;
      it = running_.erase(it);
      report_done(index);
    }
  }

  BatchContext& ctx_;
  const std::vector<GenerationRequest>& requests_;
  const BatchOptions& options_;
  const BatchDoneCallback& on_done_;
  const BatchProgressCallback& on_progress_;
  std::vector<BatchItemResult> results_;
  std::vector<PreparedRequest> prepared_;
  std::vector<int64_t> shareable_;  // per request: longest prefix shared with another one
  std::deque<size_t> waiting_;
  std::vector<std::unique_ptr<Active>> running_;
  TokenBatch batch_;
  std::vector<float> logits_;
  BatchStats stats_;
  BatchProgress progress_;
  int64_t budget_ = 512;
  int32_t max_seqs_ = 1;
  int64_t prefill_slots_ = 0;
  int64_t committed_blocks_ = 0;
  double total_flops_ = 0;
  double peak_flops_per_s_ = 0;
  Clock::time_point t0_;
};

}  // namespace

std::vector<BatchItemResult> run_batch(BatchContext& ctx,
                                       const std::vector<GenerationRequest>& requests,
                                       const BatchOptions& options, BatchStats* stats,
                                       const BatchDoneCallback& on_done,
                                       const BatchProgressCallback& on_progress) {
  BatchRun run(ctx, requests, options, on_done, on_progress);
  return run.run(stats);
}

}  // namespace packinfer
