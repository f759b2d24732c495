// Log-probabilities of tokens under softmax(logits), for the OpenAI "logprobs" field. Uses the
// same non-finite rules as the Sampler: NaN counts as -inf, +inf logits share all the mass.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "packinfer/error.h"
#include "sample/sampler.h"

namespace packinfer {

namespace {

// log(sum(exp(logits))) computed stably, plus what is needed for the +inf case.
struct LogNorm {
  float max = -kInf;
  double log_sum = -std::numeric_limits<double>::infinity();
  int64_t inf_count = 0;
};

LogNorm log_norm(std::span<const float> logits) {
  LogNorm n;
  for (float l : logits)
    if (l > n.max) n.max = l;  // NaN never compares greater
  if (n.max == kInf) {
    for (float l : logits) n.inf_count += (l == kInf);
  } else if (n.max > -kInf) {
    double sum = 0.0;
    for (float l : logits)
      if (l > -kInf) sum += std::exp(double(l) - n.max);
    n.log_sum = n.max + std::log(sum);
  }
  return n;
}

float logprob(float l, const LogNorm& n) {
  if (!(l > -kInf)) return -kInf;  // -inf and NaN: never drawn
  if (n.max == kInf) return l == kInf ? -static_cast<float>(std::log(double(n.inf_count))) : -kInf;
  return static_cast<float>(double(l) - n.log_sum);
}

}  // namespace

float token_logprob(std::span<const float> logits, int32_t id) {
  if (id < 0 || static_cast<size_t>(id) >= logits.size())
    throw InvalidArgument("token_logprob: token id " + std::to_string(id) +
                          " is outside the vocabulary of " + std::to_string(logits.size()));
  return logprob(logits[id], log_norm(logits));
}

std::vector<std::pair<int32_t, float>> top_logprobs(std::span<const float> logits, int n) {
  std::vector<std::pair<int32_t, float>> out;
  if (n <= 0 || logits.empty()) return out;
  const size_t k = std::min(static_cast<size_t>(n), logits.size());
  out.reserve(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    const float l = logits[i];
    out.emplace_back(static_cast<int32_t>(i), l > -kInf ? l : -kInf);  // NaN sorts as -inf
  }
  std::partial_sort(out.begin(), out.begin() + k, out.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  out.resize(k);
  const LogNorm norm = log_norm(logits);
  for (auto& [id, value] : out) value = logprob(value, norm);
  return out;
}

}  // namespace packinfer
