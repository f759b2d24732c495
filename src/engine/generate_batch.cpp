// Engine::generate_batch: a whole job through the scheduler core with the offline policy, and
// the job's statistics (batch TTFT, makespan, packing efficiency, memory peaks, the compute
// lower bound).
#include <algorithm>
#include <chrono>

#include "batch/job_planner.h"
#include "engine/engine_core.h"
#include "packinfer/batch.h"
#include "sched/offline_policy.h"
#include "sched/request_factory.h"
#include "sched/sequence.h"

namespace packinfer {
namespace {

using Clock = std::chrono::steady_clock;

class BatchJob {
 public:
  BatchJob(EngineCore& m, const std::vector<GenerationRequest>& requests,
           const BatchOptions& options, const BatchDoneCallback& on_done,
           const BatchProgressCallback& on_progress)
      : m_(m),
        requests_(requests),
        options_(options),
        on_done_(on_done),
        on_progress_(on_progress),
        results_(requests.size()),
        t0_(Clock::now()) {
    budget_ = options.max_batch_tokens > 0 ? options.max_batch_tokens : m.options.max_batch_tokens;
    progress_.total = static_cast<int64_t>(requests.size());
  }

  std::vector<BatchItemResult> run(BatchStats* stats) {
    // Activation memory is reported per job: start from empty scratch.
    m_.transformer->release_scratch();
    m_.kv->trim_if_idle();
    OfflinePolicyOptions po;
    po.mode = options_.mode;
    po.max_batch_tokens = budget_;
    po.max_seqs = options_.max_seqs;
    SchedulerOptions so;
    so.prefix_cache = options_.prefix_cache;
    so.pad_token = std::max(0, m_.model->tokenizer().eos_id());
    Scheduler scheduler(*m_.kv, std::make_unique<OfflinePolicy>(po), so);
    queue(scheduler);
    m_.drive(scheduler,
             [this](const StepPlan& plan, const StepOutput& out) { observe(plan, out); });
    stats_.makespan_seconds = elapsed();
    m_.kv->trim_if_idle();  // the job's KV pages go back to the OS
    stats_.packing_efficiency =
        prefill_slots_ > 0 ? static_cast<double>(stats_.prompt_tokens) / prefill_slots_ : 0;
    if (peak_flops_per_s_ > 0) stats_.lower_bound_seconds = total_flops_ / peak_flops_per_s_;
    if (stats != nullptr) *stats = stats_;
    return std::move(results_);
  }

 private:
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

  void report_done(size_t i) {
    progress_.done++;
    progress_.elapsed_seconds = elapsed();
    if (on_done_) on_done_(i, results_[i]);
    if (on_progress_) on_progress_(progress_);
  }

  // Tokenizes and checks every request (a bad one gets its error at once); queues the valid
  // ones in the planned order (offline job planning).
  void queue(Scheduler& scheduler) {
    std::vector<size_t> valid;
    std::vector<JobRequest> jobs;
    std::vector<PreparedRequest> prepared(requests_.size());
    const Tokenizer& tok = m_.model->tokenizer();
    for (size_t i = 0; i < requests_.size(); ++i) {
      try {
        prepared[i] = prepare_request(tok, requests_[i], m_.options.n_ctx, m_.grammars.get());
        valid.push_back(i);
        jobs.push_back({prepared[i].prompt_ids, prepared[i].max_new});
      } catch (const std::exception& e) {
        results_[i].error = e.what();
        results_[i].finish_seconds = elapsed();
        report_done(i);
      }
    }
    // Only prefixes another request of the job shares are worth caching: caching the rest would
    // keep every finished request's KV resident (cached blocks are evicted only when the free
    // ones run out), growing the job's RSS for nothing.
    const std::vector<int64_t> shared = longest_shared_prefixes(jobs);
    std::vector<size_t> order(valid.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    if (options_.plan_order && options_.mode != PrefillMode::Single && !jobs.empty()) {
      JobPlan plan = plan_jobs(jobs);
      for (size_t k = 0; k < order.size(); ++k) order[k] = static_cast<size_t>(plan.order[k]);
    }
    for (size_t k : order) {
      const size_t i = valid[k];
      std::unique_ptr<Request> r = make_request(m_.next_request_id++, tok, requests_[i],
                                                std::move(prepared[i]), m_.model->config().n_vocab);
      r->submitted = t0_;
      r->cache_limit = shared[k];
      r->callbacks.on_done = [this, i](const ServingResult& res) { done(i, res); };
      scheduler.add(std::move(r));
    }
  }

  void done(size_t i, const ServingResult& res) {
    BatchItemResult& r = results_[i];
    r.error = res.error;
    r.out_of_memory = res.out_of_memory;
    r.result = res.generation;
    r.ttft_seconds = res.ttft_seconds;
    r.finish_seconds = res.e2e_seconds;
    r.result.prompt_seconds = r.ttft_seconds;
    r.result.generate_seconds = r.finish_seconds - r.ttft_seconds;
    if (res.error.empty()) {
      stats_.cached_prompt_tokens += res.generation.cached_tokens;
      stats_.all_first_tokens_seconds = std::max(stats_.all_first_tokens_seconds, r.ttft_seconds);
    }
    report_done(i);
  }

  // Per forward: its FLOPs and the best rate seen (the "measured peak" the makespan lower bound
  // divides by), prompt and padding tokens, the memory peaks.
  void observe(const StepPlan& plan, const StepOutput& out) {
    stats_.n_forwards++;
    total_flops_ += out.flops;
    if (out.seconds > 0) peak_flops_per_s_ = std::max(peak_flops_per_s_, out.flops / out.seconds);
    const int64_t used =
        static_cast<int64_t>(m_.kv->pool().n_used()) *
        KvCache::block_bytes(m_.model->config().kv_shape(), m_.kv->block_size(), m_.kv->format());
    stats_.peak_kv_bytes = std::max(stats_.peak_kv_bytes, used);
    int64_t prompt = 0, padding = 0;
    for (const PlannedSequence& s : plan.sequences) {
      if (!s.decode) {
        prompt += s.n_real();
        padding += s.n_padding;
      }
    }
    // Every logit row of an offline plan is sampled (a request's first token, or a decode).
    stats_.generated_tokens += plan.n_logit_rows();
    progress_.generated_tokens += plan.n_logit_rows();
    if (prompt == 0) return;
    // A prefill forward (the offline policy never mixes prompts and decodes).
    stats_.prompt_tokens += prompt;
    stats_.padding_tokens += padding;
    progress_.prompt_tokens += prompt;
    prefill_slots_ += options_.mode == PrefillMode::Padded ? prompt + padding : budget_;
    stats_.prefill_seconds += out.seconds;
    stats_.peak_activation_bytes =
        std::max(stats_.peak_activation_bytes, m_.transformer->scratch_bytes());
  }

  EngineCore& m_;
  const std::vector<GenerationRequest>& requests_;
  const BatchOptions& options_;
  const BatchDoneCallback& on_done_;
  const BatchProgressCallback& on_progress_;
  std::vector<BatchItemResult> results_;
  BatchStats stats_;
  BatchProgress progress_;
  int64_t budget_ = 512;
  int64_t prefill_slots_ = 0;
  double total_flops_ = 0;
  double peak_flops_per_s_ = 0;
  Clock::time_point t0_;
};

}  // namespace

std::vector<BatchItemResult> Engine::generate_batch(
    const std::vector<GenerationRequest>& requests, const BatchOptions& options, BatchStats* stats,
    const std::function<void(size_t, const BatchItemResult&)>& on_done,
    const std::function<void(const BatchProgress&)>& on_progress) {
  BatchJob job(*impl_, requests, options, on_done, on_progress);
  return job.run(stats);
}

}  // namespace packinfer
