#pragma once
// `packinfer batch` orchestration: read the requests, skip those already answered, reject the bad
// ones with an error line, run the rest through Engine::generate_batch and write each result as it
// finishes.
#include <chrono>
#include <string>

#include "batch_jobs/batch_results.h"
#include "batch_jobs/batch_resume.h"
#include "packinfer/batch.h"
#include "packinfer/engine.h"

namespace packinfer::batch_jobs {

struct BatchJobOptions {
  std::string input, output;
  BatchOptions batch;
};

// A job runs in two steps so that every file argument is checked before anything about the
// model: a typo in the input or output path fails in milliseconds, ahead of a model error.
class BatchJob {
 public:
  // Reads the input and prepares the output (an existing file is resumed: a partial last line is
  // cut off), and says on stderr how many results are already there. Throws packinfer::Error for
  // unusable files (a directory, input and output the same file, unreadable, unwritable).
  explicit BatchJob(const BatchJobOptions& options);

  // Loads the model (with eo.max_batch_tokens raised to the job's per-forward budget when that is
  // larger) and runs the requests not answered yet. Returns the process exit code: 0 whenever the
  // job ran, however many requests failed. Throws packinfer::Error for a bad model.
  int run(EngineOptions eo);

 private:
  std::chrono::steady_clock::time_point started_;
  BatchJobOptions options_;
  std::string input_;
  ResumeState resume_;
  ResultWriter writer_;
};

}  // namespace packinfer::batch_jobs
