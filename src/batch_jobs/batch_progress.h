#pragma once
// `packinfer batch` progress and summary on stderr. On a terminal a single live line (redrawn at
// most ~10 times/s); otherwise (a log file, CI) a plain line every ~5 s so logs stay readable.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "packinfer/batch.h"

namespace packinfer::batch_jobs {

// "12/100 | prompt 1234 tok/s | gen 56.7 tok/s | ETA 0:42" (pure, for tests and both modes).
std::string format_progress(const BatchProgress& p);

class ProgressReporter {
 public:
  ProgressReporter(std::FILE* out, bool live);
  void update(const BatchProgress& p);  // rate-limited
  void finish(const BatchProgress& p);  // always prints the final state

 private:
  void print(const BatchProgress& p);
  std::FILE* out_;
  bool live_;
  std::chrono::steady_clock::time_point last_{};
};

struct JobSummary {
  int64_t ok = 0, failed = 0, skipped = 0;
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double elapsed_seconds = 0;
};

// Multi-line end-of-job summary: outcome counts, tokens, time and the engine's BatchStats.
std::string format_summary(const JobSummary& job, const BatchStats& stats);

}  // namespace packinfer::batch_jobs
