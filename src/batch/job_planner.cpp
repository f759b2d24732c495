#include "batch/job_planner.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "packinfer/error.h"

namespace packinfer {
namespace {

void validate(std::span<const JobRequest> requests) {
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].prompt.empty()) {
      throw InvalidArgument("request " + std::to_string(i) +
                            " has an empty prompt; every prompt needs at least one token");
    }
    if (requests[i].max_new_tokens < 0) {
      throw InvalidArgument("request " + std::to_string(i) + " has negative max_new_tokens");
    }
  }
}

// Request indices sorted by prompt tokens, lexicographically (ties: lower index first). In this
// order the common prefix of any run of requests is the minimum over its adjacent pairs, so
// groups can be found in one pass.
std::vector<int64_t> lexicographic_order(std::span<const JobRequest> requests) {
  std::vector<int64_t> order(requests.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return std::lexicographical_compare(requests[a].prompt.begin(), requests[a].prompt.end(),
                                        requests[b].prompt.begin(), requests[b].prompt.end());
  });
  return order;
}

int64_t longest_decode(const PrefixGroup& g, std::span<const JobRequest> requests) {
  int64_t m = 0;
  for (int64_t r : g.requests) m = std::max(m, requests[r].max_new_tokens);
  return m;
}

}  // namespace

int64_t common_prefix_length(std::span<const int32_t> a, std::span<const int32_t> b) {
  auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return static_cast<int64_t>(ia - a.begin());
}

std::vector<int64_t> longest_shared_prefixes(std::span<const JobRequest> requests) {
  // In lexicographic order the longest common prefix with any other prompt is the one with a
  // neighbour.
  std::vector<int64_t> order = lexicographic_order(requests);
  std::vector<int64_t> shared(requests.size(), 0);
  for (size_t i = 1; i < order.size(); ++i) {
    const auto a = static_cast<size_t>(order[i - 1]), b = static_cast<size_t>(order[i]);
    const int64_t n = common_prefix_length(requests[a].prompt, requests[b].prompt);
    shared[a] = std::max(shared[a], n);
    shared[b] = std::max(shared[b], n);
  }
  return shared;
}

int64_t distinct_prompt_tokens(std::span<const JobRequest> requests) {
  // In lexicographic order each prompt adds exactly the trie nodes below its common prefix with
  // its predecessor.
  std::vector<int64_t> order = lexicographic_order(requests);
  int64_t total = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& p = requests[order[i]].prompt;
    total += static_cast<int64_t>(p.size());
    if (i > 0) total -= common_prefix_length(requests[order[i - 1]].prompt, p);
  }
  return total;
}

JobPlan plan_jobs(std::span<const JobRequest> requests, const JobPlanOptions& options) {
  validate(requests);
  if (options.min_shared_prefix < 0) throw InvalidArgument("min_shared_prefix must be >= 0");
  // A group must share at least one token, or unrelated requests would merge into one group.
  const int64_t min_shared = std::max<int64_t>(options.min_shared_prefix, 1);

  // (a) Maximal runs, in lexicographic order, whose adjacent pairs share >= min_shared tokens;
  // every member of a run then shares the run's minimum adjacent common prefix.
  std::vector<int64_t> lex = lexicographic_order(requests);
  std::vector<PrefixGroup> groups;
  for (size_t i = 0; i < lex.size(); ++i) {
    int64_t lcp =
        i == 0 ? 0 : common_prefix_length(requests[lex[i - 1]].prompt, requests[lex[i]].prompt);
    if (i > 0 && lcp >= min_shared) {
      PrefixGroup& g = groups.back();
      g.shared_prefix = g.requests.size() == 1 ? lcp : std::min(g.shared_prefix, lcp);
      g.requests.push_back(lex[i]);
    } else {
      groups.push_back(PrefixGroup{{lex[i]}, 0});
    }
  }

  // (b) Decode-heavy first, within and across groups; stable sorts keep lexicographic order on
  // ties.
  for (PrefixGroup& g : groups) {
    std::stable_sort(g.requests.begin(), g.requests.end(), [&](int64_t a, int64_t b) {
      return requests[a].max_new_tokens > requests[b].max_new_tokens;
    });
  }
  std::stable_sort(groups.begin(), groups.end(), [&](const PrefixGroup& a, const PrefixGroup& b) {
    return longest_decode(a, requests) > longest_decode(b, requests);
  });

  JobPlan plan;
  for (const PrefixGroup& g : groups) {
    plan.order.insert(plan.order.end(), g.requests.begin(), g.requests.end());
  }
  plan.groups = std::move(groups);
  return plan;
}

}  // namespace packinfer
