#include "batch/job_makespan.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <string>
#include <vector>

#include "packinfer/error.h"

namespace packinfer {
namespace {

void validate(std::span<const JobRequest> requests, std::span<const int64_t> order,
              const CostModel& cost, const MakespanOptions& options) {
  if (!(cost.prefill_tokens_per_s > 0)) throw InvalidArgument("prefill_tokens_per_s must be > 0");
  if (!(cost.decode_step_base_s >= 0) || !(cost.decode_step_per_seq_s >= 0)) {
    throw InvalidArgument("decode step costs must be >= 0");
  }
  if (options.max_concurrent_seqs < 1) throw InvalidArgument("max_concurrent_seqs must be >= 1");
  if (order.size() != requests.size()) {
    throw InvalidArgument("order has " + std::to_string(order.size()) + " entries for " +
                          std::to_string(requests.size()) + " requests");
  }
  std::vector<bool> seen(requests.size(), false);
  for (int64_t r : order) {
    if (r < 0 || r >= static_cast<int64_t>(requests.size()) || seen[r]) {
      throw InvalidArgument("order is not a permutation: bad or repeated entry " +
                            std::to_string(r));
    }
    seen[r] = true;
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].prompt.empty() || requests[i].max_new_tokens < 0) {
      throw InvalidArgument("request " + std::to_string(i) +
                            " needs a non-empty prompt and max_new_tokens >= 0");
    }
  }
}

}  // namespace

MakespanEstimate estimate_makespan(std::span<const JobRequest> requests,
                                   std::span<const int64_t> order, const CostModel& cost,
                                   const MakespanOptions& options) {
  validate(requests, order, cost, options);
  MakespanEstimate est;
  // Running requests by the global decode step at which they finish. Between two admissions
  // the batch is constant, so time advances a whole stretch of identical steps at once: the
  // simulation costs O(n log n), not one iteration per generated token.
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<>> finish_step;
  int64_t steps_done = 0;
  size_t next = 0;
  while (next < order.size() || !finish_step.empty()) {
    while (next < order.size() &&
           static_cast<int64_t>(finish_step.size()) < options.max_concurrent_seqs) {
      const JobRequest& r = requests[order[next]];
      int64_t tokens = static_cast<int64_t>(r.prompt.size());
      if (options.prefix_reuse == PrefixReuse::PreviousRequest && next > 0) {
        // Keep the last prompt token: its logits yield the first generated token.
        int64_t shared = common_prefix_length(requests[order[next - 1]].prompt, r.prompt);
        tokens -= std::min(shared, tokens - 1);
      }
      double dt = static_cast<double>(tokens) / cost.prefill_tokens_per_s;
      est.prefill_tokens += tokens;
      est.prefill_seconds += dt;
      // The prefill yields the first new token; the rest take one decode step each.
      if (r.max_new_tokens > 1) finish_step.push(steps_done + r.max_new_tokens - 1);
      ++next;
    }
    if (finish_step.empty()) continue;  // only prefill-only requests were admitted
    int64_t batch = static_cast<int64_t>(finish_step.size());
    int64_t steps = finish_step.top() - steps_done;
    est.decode_seconds += static_cast<double>(steps) * cost.decode_step_seconds(batch);
    est.decode_steps += steps;
    est.decode_tokens += steps * batch;
    steps_done += steps;
    while (!finish_step.empty() && finish_step.top() == steps_done) finish_step.pop();
  }
  est.seconds = est.prefill_seconds + est.decode_seconds;
  return est;
}

double makespan_lower_bound(std::span<const JobRequest> requests, double flops_per_token,
                            double peak_flops_per_s) {
  if (!(flops_per_token > 0) || !(peak_flops_per_s > 0)) {
    throw InvalidArgument("flops_per_token and peak_flops_per_s must be > 0");
  }
  int64_t tokens = distinct_prompt_tokens(requests);
  for (const JobRequest& r : requests) tokens += std::max<int64_t>(r.max_new_tokens - 1, 0);
  return static_cast<double>(tokens) * flops_per_token / peak_flops_per_s;
}

}  // namespace packinfer
