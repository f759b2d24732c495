#pragma once
// Offline ordering of a whole batch job (BatchLLM-like): when every request is known up front,
// the order in which they are admitted decides both how much prompt KV a prefix cache can reuse
// and how well long decodes overlap with the rest of the work.
#include <cstdint>
#include <span>
#include <vector>

namespace packinfer {

struct JobRequest {
  std::vector<int32_t> prompt;  // token ids, at least one
  int64_t max_new_tokens = 0;   // expected tokens to generate (0: prefill only, e.g. scoring)
};

// Requests that share their first shared_prefix tokens, in planned order.
struct PrefixGroup {
  std::vector<int64_t> requests;
  int64_t shared_prefix = 0;  // tokens all members share; 0 for a request without a group
};

struct JobPlan {
  std::vector<int64_t> order;       // a permutation of the request indices
  std::vector<PrefixGroup> groups;  // in order; their requests concatenated equal `order`
};

struct JobPlanOptions {
  // Requests join a group only if they share at least this many leading tokens: shorter common
  // prefixes (a BOS token, a chat header) save too little prefill to constrain the order.
  int64_t min_shared_prefix = 16;
};

// Orders requests so that (a) requests sharing a prefix of at least min_shared_prefix tokens are
// adjacent, letting a prefix cache compute the prefix once per group, and (b) decode-heavy work
// starts early: groups by their longest max_new_tokens, descending, and requests within a group
// likewise (the longest-processing-time-first rule for makespan; a long decode started last
// would run alone at the end). Ties keep lexicographic token order, which keeps nested prefixes
// adjacent. Deterministic. Throws InvalidArgument for an empty prompt, negative max_new_tokens
// or negative min_shared_prefix.
JobPlan plan_jobs(std::span<const JobRequest> requests, const JobPlanOptions& options = {});

// Number of leading tokens a and b have in common.
int64_t common_prefix_length(std::span<const int32_t> a, std::span<const int32_t> b);

// For every request, the longest prefix its prompt shares with any other request's prompt: what
// a prefix cache could ever reuse of it within the job.
std::vector<int64_t> longest_shared_prefixes(std::span<const JobRequest> requests);

// Prompt tokens that even a perfect, unbounded prefix cache must compute: the number of distinct
// prefixes (nodes of the token trie) over all prompts.
int64_t distinct_prompt_tokens(std::span<const JobRequest> requests);

}  // namespace packinfer
