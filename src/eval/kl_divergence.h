#pragma once
// How far a lossy configuration's next-token distributions are from the exact path's, position
// by position (the statistics of llama-perplexity --kl-divergence): KL(base || test), both
// perplexities, and whether the most likely token agrees. Pure functions over logits.
#include <cstdint>
#include <span>
#include <vector>

namespace packinfer::eval {

// log-softmax of logits, in double sums (NaN counts as -inf).
std::vector<float> log_softmax(std::span<const float> logits);

struct PositionScore {
  double kl = 0;            // sum_i p_base(i) * (log p_base(i) - log p_test(i)), nats
  double base_nll = 0;      // -log p_base(actual next token)
  double test_nll = 0;      // -log p_test(actual next token)
  bool top_agrees = false;  // argmax of both is the same token (lowest id on ties)
};

// base_logprobs: the exact path's log-softmax; test_logits: the configuration under test (raw).
PositionScore score_position(std::span<const float> base_logprobs,
                             std::span<const float> test_logits, int32_t next_token);

struct KldSummary {
  int64_t positions = 0;
  double kl_mean = 0, kl_median = 0, kl_p99 = 0, kl_max = 0;
  double ppl_base = 0, ppl_test = 0;
  double ppl_diff = 0;        // ppl_test - ppl_base
  double top1_agreement = 0;  // share of positions, 0..1
};

KldSummary summarize(std::span<const PositionScore> scores);

}  // namespace packinfer::eval
