#pragma once
// `packinfer batch` orchestration: read the requests, skip those already answered, reject the bad
// ones with an error line, run the rest through Engine::generate_batch and write each result as it
// finishes.
#include <string>

#include "cli/cli_common.h"
#include "packinfer/batch.h"

namespace packinfer::cli {

struct BatchJobOptions {
  ModelOptions model;
  std::string input, output;
  BatchOptions batch;
};

// Returns the process exit code: 0 whenever the job ran, however many requests failed. Throws
// packinfer::Error for unusable arguments (unreadable input, unwritable output, bad model).
int run_batch_job(const BatchJobOptions& options);

}  // namespace packinfer::cli
