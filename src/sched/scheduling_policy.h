#pragma once
// What differs between ways of scheduling: which requests run next and how many of their tokens
// go into each forward. Everything else (prefix reuse, KV bookkeeping, turning a forward into a
// step plan, sampling, finishing) is the scheduler core's (sched/scheduler.h), written once.
#include <cstdint>
#include <deque>
#include <vector>

#include "runner/step_plan.h"

namespace packinfer {

class Scheduler;
struct Request;

// A run of one request's tokens in one forward: the next n_tokens it has to compute, then
// n_padding pad tokens (the padded baseline only), or its one decode token.
struct Piece {
  Request* request = nullptr;
  int64_t n_tokens = 0;
  int64_t n_padding = 0;
  bool decode = false;
};

// The pieces of one forward pass; a request appears at most once.
using Forward = std::vector<Piece>;

class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;

  // Plans the next step as one or more forwards, run in order, appended to `forwards`. Called
  // when every forward planned before has run. May admit waiting requests, take KV blocks and
  // preempt, through the scheduler's helpers. Leaving `forwards` empty means nothing can run now.
  virtual void plan_step(Scheduler& scheduler, std::deque<Forward>& forwards) = 0;

  // A request left the scheduler (finished, failed or cancelled): drop what the policy set aside.
  virtual void on_finished(const Request& request) {}

  // A forward it planned ran (before the scheduler takes its output): its wall time is what a
  // latency-aware policy learns from.
  virtual void on_step_done(const StepPlan& plan, const StepOutput& output) {}
};

}  // namespace packinfer
