// ServingEngine: the thread-safe front of the scheduler core with the online policy. Callers
// submit and cancel from any thread; one engine thread owns the scheduler (and through it the
// model runner and KV cache) and runs steps while there is work, sleeping on a condition
// variable otherwise.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <span>
#include <thread>

#include "engine/engine_core.h"
#include "packinfer/serving.h"
#include "sample/sampler.h"
#include "sched/online_policy.h"
#include "sched/request_factory.h"
#include "sched/scheduler.h"
#include "sched/sequence.h"
#include "sched/step_log.h"

namespace packinfer {

using Clock = std::chrono::steady_clock;

struct ServingEngine::Impl {
  EngineCore& engine;
  ServingOptions options;
  Scheduler scheduler;

  mutable std::mutex mu;
  std::condition_variable wake;
  std::vector<std::unique_ptr<Request>> incoming;  // submitted, not yet in the scheduler
  std::vector<uint64_t> cancels;
  uint64_t next_id = 1;
  bool stopping = false;
  ServingStats published;             // the scheduler's stats after the last step
  std::unique_ptr<StepLog> step_log;  // ServingOptions::step_log, when set
  std::thread thread;

  static SchedulerOptions scheduler_options(const ServingOptions& o) {
    SchedulerOptions so;
    so.prefix_cache = o.prefix_cache;
    return so;
  }

  Impl(EngineCore& e, const ServingOptions& o)
      : engine(e),
        options(o),
        scheduler(*e.kv, std::make_unique<OnlinePolicy>(e.model->config(), e.options.n_ctx, o),
                  scheduler_options(o)),
        step_log(o.step_log.empty() ? nullptr : std::make_unique<StepLog>(o.step_log)) {}

  // One step: the next forward the scheduler plans, run and taken back. False when there was
  // nothing to run (requests wait, e.g. for blocks another server computes).
  bool step() {
    const auto t0 = Clock::now();
    StepPlan plan = scheduler.schedule();
    if (plan.empty()) return false;
    const auto t1 = Clock::now();
    try {
      engine.runner->run(plan, engine.output);
    } catch (const std::exception& e) {
      // A failed forward leaves the KV of this step's requests undefined: fail them all.
      scheduler.fail(plan, std::string("internal error: ") + e.what());
      return true;
    }
    const auto t2 = Clock::now();
    scheduler.update(plan, engine.output);
    if (step_log) step_log->write(plan, t0, t1, t2, Clock::now());
    return true;
  }

  void loop() {
    for (;;) {
      {
        std::unique_lock lock(mu);
        wake.wait(lock, [&] {
          return stopping || !incoming.empty() || !cancels.empty() || !scheduler.idle();
        });
        if (stopping) break;
        for (auto& r : incoming) scheduler.add(std::move(r));
        incoming.clear();
        for (uint64_t id : cancels) scheduler.cancel(id);
        cancels.clear();
      }
      const bool ran = step();
      std::unique_lock lock(mu);
      published = scheduler.stats();
      // Queued requests that cannot run yet look again shortly (a request waiting for another
      // server's blocks polls the store): nap until then or until something arrives, not spin.
      if (!ran) {
        wake.wait_for(lock, std::chrono::milliseconds(2),
                      [&] { return stopping || !incoming.empty() || !cancels.empty(); });
      }
    }
    // Shutdown: everything queued or running ends cancelled (callers get on_done).
    std::vector<std::unique_ptr<Request>> left;
    {
      std::lock_guard lock(mu);
      left.swap(incoming);
    }
    for (auto& r : left) scheduler.add(std::move(r));
    scheduler.cancel_all();
  }
};

ServingEngine::ServingEngine(Engine& engine, const ServingOptions& options)
    : impl_(std::make_unique<Impl>(engine.core(), options)) {
  impl_->published = impl_->scheduler.stats();
  impl_->thread = std::thread([this] { impl_->loop(); });
}

ServingEngine::~ServingEngine() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

uint64_t ServingEngine::submit(const ServingRequest& request, ServingCallbacks callbacks) {
  Impl& m = *impl_;
  if (request.top_logprobs > 20) throw InvalidArgument("top_logprobs must be at most 20");
  if (request.prompt_logprobs > 20) throw InvalidArgument("prompt_logprobs must be at most 20");
  const Tokenizer& tok = m.engine.model->tokenizer();
  PreparedRequest p =
      prepare_request(tok, request.generation, m.engine.options.n_ctx, m.engine.grammars.get());
  std::unique_ptr<Request> r =
      make_request(0, tok, request.generation, std::move(p), m.engine.model->config().n_vocab);
  r->callbacks = std::move(callbacks);
  r->top_logprobs = request.top_logprobs;
  if (request.prompt_logprobs >= 0) {
    // Position p's logits predict prompt token p + 1. A recomputed (preempted) request sees its
    // positions again, and its generated ones: each entry is simply written again.
    Request* raw = r.get();
    const int64_t n_prompt = raw->seq->n_prompt();
    const int32_t top = request.prompt_logprobs;
    raw->prompt_logprob_tokens.resize(static_cast<size_t>(n_prompt - 1));
    raw->on_prompt_logits = [raw, n_prompt, top](int64_t pos, std::span<const float> logits) {
      if (pos < 0 || pos + 1 >= n_prompt) return;
      TokenEvent& ev = raw->prompt_logprob_tokens[static_cast<size_t>(pos)];
      ev.id = raw->tokens[static_cast<size_t>(pos + 1)];
      ev.logprob = token_logprob(logits, ev.id);
      ev.top = top_logprobs(logits, top);
    };
  }
  uint64_t id = 0;
  {
    std::lock_guard lock(m.mu);
    if (m.stopping) throw Overloaded("the server is shutting down");
    if (m.published.queued + static_cast<int64_t>(m.incoming.size()) >= m.options.max_queued) {
      throw Overloaded("too many requests are waiting (" + std::to_string(m.options.max_queued) +
                       "); retry later");
    }
    id = m.next_id++;
    r->id = id;
    m.incoming.push_back(std::move(r));
  }
  m.wake.notify_one();
  return id;
}

void ServingEngine::cancel(uint64_t id) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->cancels.push_back(id);
  }
  impl_->wake.notify_one();
}

ServingStats ServingEngine::stats() const {
  std::lock_guard lock(impl_->mu);
  ServingStats s = impl_->published;
  s.queued += static_cast<int64_t>(impl_->incoming.size());
  return s;
}

const ServingOptions& ServingEngine::options() const { return impl_->options; }

void ServingEngine::wait_kv_published() {
  // The store's queue has its own lock; the pointer never changes while serving.
  if (RedisKvStore* s = impl_->engine.kv->store()) s->flush();
}

}  // namespace packinfer
