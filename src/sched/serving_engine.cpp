// ServingEngine: the thread-safe front of the StepScheduler. Callers submit and cancel from any
// thread; one engine thread owns the scheduler (and through it the model and KV cache) and runs
// steps while there is work, sleeping on a condition variable otherwise.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "engine/engine_impl.h"
#include "packinfer/serving.h"
#include "sched/live_request.h"
#include "sched/step_scheduler.h"

namespace packinfer {

struct ServingEngine::Impl {
  Engine::Impl& engine;
  ServingOptions options;
  StepScheduler scheduler;

  mutable std::mutex mu;
  std::condition_variable wake;
  std::vector<std::unique_ptr<LiveRequest>> incoming;  // submitted, not yet in the scheduler
  std::vector<uint64_t> cancels;
  uint64_t next_id = 1;
  bool stopping = false;
  ServingStats published;  // the scheduler's stats after the last step
  std::thread thread;

  Impl(Engine::Impl& e, const ServingOptions& o)
      : engine(e),
        options(o),
        scheduler(StepContext{*e.model, *e.transformer, *e.kv, e.options.n_ctx}, o) {}

  void loop() {
    for (;;) {
      {
        std::unique_lock lock(mu);
        wake.wait(lock, [&] {
          return stopping || !incoming.empty() || !cancels.empty() || !scheduler.idle();
        });
        if (stopping) break;
        for (auto& r : incoming) scheduler.enqueue(std::move(r));
        incoming.clear();
        for (uint64_t id : cancels) scheduler.cancel(id);
        cancels.clear();
      }
      scheduler.step();
      std::lock_guard lock(mu);
      published = scheduler.stats();
    }
    // Shutdown: everything queued or running ends cancelled (callers get on_done).
    std::vector<std::unique_ptr<LiveRequest>> left;
    {
      std::lock_guard lock(mu);
      left.swap(incoming);
    }
    for (auto& r : left) scheduler.enqueue(std::move(r));
    scheduler.cancel_all();
  }
};

ServingEngine::ServingEngine(Engine& engine, const ServingOptions& options)
    : impl_(std::make_unique<Impl>(*engine.impl_, options)) {
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
  PreparedRequest p =
      prepare_request(m.engine.model->tokenizer(), request.generation, m.engine.options.n_ctx);
  auto r = std::make_unique<LiveRequest>();
  r->tokens = p.prompt_ids;
  r->computed_target = static_cast<int64_t>(p.prompt_ids.size());
  r->seq = std::make_unique<Sequence>(m.engine.model->tokenizer(), request.generation.sampling,
                                      std::move(p.prompt_ids), p.max_new,
                                      m.engine.model->config().n_vocab);
  r->callbacks = std::move(callbacks);
  r->top_logprobs = request.top_logprobs;
  r->submitted = LiveRequest::Clock::now();
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

}  // namespace packinfer
