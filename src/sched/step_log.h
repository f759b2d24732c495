#pragma once
// ServingOptions::step_log: one tab-separated line per step, appended to a file, so the step
// budget can be tuned (and its cost model checked) against what steps really held and cost.
#include <chrono>
#include <cstdio>
#include <string>

#include "runner/step_plan.h"

namespace packinfer {

class StepLog {
 public:
  // Opens (appends to) path and writes the header line; throws InvalidArgument naming the path
  // when it cannot be opened.
  explicit StepLog(const std::string& path);
  ~StepLog();
  StepLog(const StepLog&) = delete;
  StepLog& operator=(const StepLog&) = delete;

  // One step: planned at t0, forward from t1 to t2, results taken back by t3.
  void write(const StepPlan& plan, std::chrono::steady_clock::time_point t0,
             std::chrono::steady_clock::time_point t1, std::chrono::steady_clock::time_point t2,
             std::chrono::steady_clock::time_point t3);

 private:
  std::FILE* file_ = nullptr;
  int64_t steps_ = 0;
};

}  // namespace packinfer
