#include "eval/kl_divergence.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace packinfer::eval {
namespace {

int32_t argmax(std::span<const float> v) {
  int32_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  }
  return best;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double at = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(at));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

}  // namespace

std::vector<float> log_softmax(std::span<const float> logits) {
  double max = -std::numeric_limits<double>::infinity();
  for (float x : logits) {
    if (!std::isnan(x)) max = std::max(max, static_cast<double>(x));
  }
  double sum = 0;
  for (float x : logits) {
    if (!std::isnan(x)) sum += std::exp(static_cast<double>(x) - max);
  }
  const double lse = max + std::log(sum);
  std::vector<float> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    out[i] = std::isnan(logits[i]) ? -std::numeric_limits<float>::infinity()
                                   : static_cast<float>(static_cast<double>(logits[i]) - lse);
  }
  return out;
}

PositionScore score_position(std::span<const float> base_logprobs,
                             std::span<const float> test_logits, int32_t next_token) {
  const std::vector<float> test = log_softmax(test_logits);
  PositionScore s;
  double kl = 0;
  for (size_t i = 0; i < base_logprobs.size(); ++i) {
    const double lp = base_logprobs[i];
    if (!std::isfinite(lp)) continue;  // p = 0 contributes nothing
    kl += std::exp(lp) * (lp - static_cast<double>(test[i]));
  }
  s.kl = std::max(0.0, kl);  // rounding can make a zero divergence slightly negative
  s.base_nll = -static_cast<double>(base_logprobs[static_cast<size_t>(next_token)]);
  s.test_nll = -static_cast<double>(test[static_cast<size_t>(next_token)]);
  s.top_agrees = argmax(base_logprobs) == argmax(test);
  return s;
}

KldSummary summarize(std::span<const PositionScore> scores) {
  KldSummary k;
  k.positions = static_cast<int64_t>(scores.size());
  if (scores.empty()) return k;
  std::vector<double> kls;
  double kl_sum = 0, base_nll = 0, test_nll = 0;
  int64_t agree = 0;
  for (const PositionScore& s : scores) {
    kls.push_back(s.kl);
    kl_sum += s.kl;
    base_nll += s.base_nll;
    test_nll += s.test_nll;
    agree += s.top_agrees ? 1 : 0;
    k.kl_max = std::max(k.kl_max, s.kl);
  }
  const double n = static_cast<double>(scores.size());
  k.kl_mean = kl_sum / n;
  k.kl_median = quantile(kls, 0.5);
  k.kl_p99 = quantile(kls, 0.99);
  k.ppl_base = std::exp(base_nll / n);
  k.ppl_test = std::exp(test_nll / n);
  k.ppl_diff = k.ppl_test - k.ppl_base;
  k.top1_agreement = static_cast<double>(agree) / n;
  return k;
}

}  // namespace packinfer::eval
