#pragma once
// The scheduler core: one for every way packinfer runs requests (a generate call, a batch job,
// the server). It holds the requests, decides each forward pass through a policy
// (sched/scheduling_policy.h: online or offline) and returns it as a plain value, the step plan;
// the model runner executes the plan and update() takes its output back:
//
//   while (!scheduler.idle()) {
//     StepPlan plan = scheduler.schedule();   // KV blocks already taken
//     runner.run(plan, out);                  // the forward pass
//     scheduler.update(plan, out);            // advance, cache prefixes, sample, stream, finish
//   }
//
// Written once here: automatic prefix caching (the longest cached run of full blocks at
// admission; a request that shares a not-yet-computed block with one being prefilled waits for
// it; full blocks published after each forward), KV reservation for a plan, sampling and
// streaming of the wanted rows, preemption by recompute, cancellation, finishing and the
// counters. Single-threaded: one thread drives it.
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kv/kv_cache.h"
#include "packinfer/serving_types.h"
#include "runner/step_plan.h"
#include "sched/request.h"
#include "sched/scheduling_policy.h"

namespace packinfer {

struct SchedulerOptions {
  bool prefix_cache = true;  // reuse and publish cached prompt prefixes
  int32_t pad_token = 0;     // what pads are made of (padded baseline)
};

class Scheduler {
 public:
  Scheduler(KvCache& kv, std::unique_ptr<SchedulingPolicy> policy, const SchedulerOptions& options);
  ~Scheduler();  // cancels whatever is left (callers get on_done)
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request (arrival order). Its id must be unique.
  void add(std::unique_ptr<Request> request);
  // Marks a request cancelled; it is finished (KV freed, on_done called) at the next schedule().
  void cancel(uint64_t id);
  void cancel_all();
  bool idle() const { return waiting_.empty() && running_.empty(); }

  // The next forward pass, with every KV block it needs taken. Empty when nothing can run now.
  StepPlan schedule();
  // Takes the runner's output for the plan schedule() returned last: advances the sequences,
  // publishes their full blocks to the prefix cache, hands prompt logits out, samples, streams
  // and finishes requests.
  void update(const StepPlan& plan, const StepOutput& output);
  // The forward of `plan` failed: its requests end with `error` (their KV is undefined).
  void fail(const StepPlan& plan, const std::string& error);

  // Counters since start, and gauges (queued is the scheduler's own queue).
  ServingStats stats() const;

  // --- for policies ---------------------------------------------------------------------------
  std::deque<std::unique_ptr<Request>>& waiting() { return waiting_; }
  std::vector<std::unique_ptr<Request>>& running() { return running_; }  // ascending id
  KvCache& kv() { return kv_; }
  const KvCache& kv() const { return kv_; }
  bool prefix_cache() const { return options_.prefix_cache; }

  // True when r shares at least one whole KV block beyond what is already computed with a
  // running request that is still prefilling: admitting r now would compute that block twice,
  // so it should wait until the block is cached.
  bool shares_uncomputed_prefix(const Request& r) const;
  // Admission, first half: gives a fresh request the longest run of cached full blocks of its
  // target tokens (no-op without prefix caching). Returns the positions it now holds.
  int64_t match_prefix(Request& r);
  // Admission, between the halves, with a shared KV store: false when another server is
  // computing r's next prompt blocks, so r should stay queued and look again on a later step
  // (its blocks are the caller's to release); true to compute (after marking the blocks as being
  // computed here, or after waiting marker_wait_seconds in vain).
  bool claim_prefix(Request& r);
  // True when r waits for another server's blocks and it is not yet time to look again.
  bool store_poll_pending(const Request& r) const;
  // Admission, second half: moves the waiting request at `it` to running (kept in id order),
  // counts its prompt once, stamps its first scheduling. Returns the iterator after it.
  std::deque<std::unique_ptr<Request>>::iterator start(
      std::deque<std::unique_ptr<Request>>::iterator it);
  // Preemption by recompute: running_[index] loses its KV (full blocks stay cached) and goes to
  // the front of the queue, to compute again every token it was fed.
  void preempt(size_t running_index);
  // Ends a request now (KV freed, on_done called); with an error it counts as failed. It leaves
  // its list (waiting or running) at the end of the current schedule() or update().
  void finish(Request& r, const std::string& error = {}, bool out_of_memory = false);

 private:
  void finish_cancelled();
  void remove_finished();
  StepPlan materialize(const Forward& forward);
  void accept(Request& r, std::span<const float> logits);
  void deliver(Request& r, TokenEvent event);

  KvCache& kv_;
  std::unique_ptr<SchedulingPolicy> policy_;
  SchedulerOptions options_;
  std::deque<std::unique_ptr<Request>> waiting_;   // arrival order; preempted ones in front
  std::vector<std::unique_ptr<Request>> running_;  // ascending id (arrival order)
  std::deque<Forward> pending_;                    // planned forwards not yet run
  struct InFlight {
    Request* request;
    bool decode;
    bool sample;  // the last logit row is sampled
  };
  std::vector<InFlight> in_flight_;  // parallel to the last plan's sequences
  ServingStats stats_;
};

}  // namespace packinfer
