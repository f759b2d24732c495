#pragma once
// The load generator of `packinfer bench serve`: sends planned requests at their arrival times
// from worker threads (open loop: a slow server does not slow the arrivals down, up to the
// concurrency cap) and keeps every request's timings.
#include <cstdint>
#include <functional>
#include <vector>

#include "loadgen/serve_workload.h"
#include "loadgen/sse_client.h"

namespace packinfer::loadgen {

struct RequestOutcome {
  double sent_at_s = 0;  // when it was actually sent, from the start of the run
  StreamResult result;
};

struct LoadResult {
  std::vector<RequestOutcome> requests;  // in the order of the plan
  double wall_s = 0;                     // from the start until the last request ended
};

struct LoadOptions {
  int64_t max_concurrency = 512;  // requests in flight at most (one thread each)
  // Called after each request ends, with the number finished so far (from a worker thread).
  std::function<void(int64_t done)> on_finished;
};

LoadResult run_load(const StreamTarget& target, const std::vector<PlannedRequest>& plan,
                    const LoadOptions& options = {});

}  // namespace packinfer::loadgen
