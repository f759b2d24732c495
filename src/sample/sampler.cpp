// Sampler: penalties -> logit_bias -> greedy shortcut -> top-k -> top-p -> min-p -> temperature ->
// draw. The per-token path reuses candidates_ and the penalty scratch, so it never allocates.
#include "sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "packinfer/error.h"

namespace packinfer {

namespace {

bool penalties_enabled(const SamplingParams& p) {
  return p.repetition_window != 0 && (p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f ||
                                      p.frequency_penalty != 0.0f);
}

uint64_t random_seed() {
  // random_device yields 32 bits per call; two calls fill the 64-bit seed.
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// Uniform in [0, 1) from the top 53 bits of the engine. Written out rather than using
// std::uniform_real_distribution, whose algorithm differs between standard libraries: the
// same seed must give the same text on every build.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  float best_logit = -kInf;
  const int32_t n = static_cast<int32_t>(logits.size());
  for (int32_t i = 0; i < n; ++i) {
    // Strict '>' keeps the lowest id on ties and never selects a NaN.
    if (logits[i] > best_logit) {
      best_logit = logits[i];
      best = i;
    }
  }
  return best;
}

Sampler::Sampler(const SamplingParams& params, int32_t vocab_size)
    : params_(params), vocab_size_(vocab_size) {
  if (vocab_size <= 0)
    throw InvalidArgument("Sampler: vocab_size must be > 0 (got " + std::to_string(vocab_size) +
                          ")");
  rng_.seed(params.seed ? *params.seed : random_seed());
  candidates_.reserve(static_cast<size_t>(vocab_size));
  if (penalties_enabled(params_)) counts_.assign(static_cast<size_t>(vocab_size), 0);
}

void Sampler::apply_penalties(std::span<float> logits, std::span<const int32_t> history) {
  const size_t window = params_.repetition_window < 0
                            ? history.size()
                            : std::min(history.size(), size_t(params_.repetition_window));
  for (int32_t id : history.last(window)) {
    if (id < 0 || id >= vocab_size_) continue;
    if (counts_[id]++ == 0) seen_ids_.push_back(id);
  }
  const float rp = params_.repetition_penalty;
  for (int32_t id : seen_ids_) {
    float& l = logits[id];
    // CTRL / llama.cpp: dividing a negative logit would raise it, so those are multiplied.
    if (rp != 1.0f) l = l > 0.0f ? l / rp : l * rp;
    l -= static_cast<float>(counts_[id]) * params_.frequency_penalty + params_.presence_penalty;
    counts_[id] = 0;  // leave the scratch all-zero for the next call
  }
  seen_ids_.clear();
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
  if (logits.size() != static_cast<size_t>(vocab_size_))
    throw Error("Sampler::sample: got " + std::to_string(logits.size()) + " logits, expected " +
                std::to_string(vocab_size_));
  if (!counts_.empty() && !history.empty()) apply_penalties(logits, history);
  for (const auto& [id, bias] : params_.logit_bias) {
    if (id >= 0 && id < vocab_size_) logits[id] += bias;
  }
  if (params_.temperature == 0.0f) return argmax(logits);

  // Only tokens that can be drawn become candidates ('> -inf' is false for -inf and NaN).
  candidates_.clear();
  float max_logit = -kInf;
  for (int32_t i = 0; i < vocab_size_; ++i) {
    const float l = logits[i];
    if (l > -kInf) {
      candidates_.push_back({i, l});
      max_logit = std::max(max_logit, l);
    }
  }
  if (candidates_.empty()) return 0;
  // A +inf logit means certainty; softmax would produce inf/inf = NaN.
  if (max_logit == kInf) return argmax(logits);

  // Total order (logit desc, id asc) so the kept set and draw order are deterministic.
  const auto better = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  bool sorted = false;
  const size_t k = static_cast<size_t>(params_.top_k);
  if (k > 0 && k < candidates_.size()) {
    // O(n log k): for k = 40 over 49152 logits far cheaper than a full sort.
    std::partial_sort(candidates_.begin(), candidates_.begin() + k, candidates_.end(), better);
    candidates_.resize(k);
    sorted = true;
  }

  if (params_.top_p < 1.0f) {
    // Without top-k this sorts the whole vocab; nucleus needs the exact order, and with the
    // default top_k the list is already sorted and short.
    if (!sorted) std::sort(candidates_.begin(), candidates_.end(), better);
    double sum = 0.0;
    for (const Candidate& c : candidates_) sum += std::exp(double(c.logit) - max_logit);
    const double target = double(params_.top_p) * sum;
    double cum = 0.0;
    size_t keep = candidates_.size();
    for (size_t i = 0; i < candidates_.size(); ++i) {
      cum += std::exp(double(candidates_[i].logit) - max_logit);
      if (cum >= target) {
        keep = i + 1;  // smallest prefix reaching top_p; always >= 1
        break;
      }
    }
    candidates_.resize(keep);
  }

  if (params_.min_p > 0.0f) {
    // p / p_max = exp(logit - max_logit); the best candidate (ratio 1) always survives.
    const float min_p = params_.min_p;
    std::erase_if(candidates_,
                  [&](const Candidate& c) { return std::exp(c.logit - max_logit) < min_p; });
  }

  // Temperature and softmax weights. Subtracting the max before dividing keeps every exponent
  // <= 0, so even a tiny temperature cannot overflow (far-below tokens just underflow to 0).
  const float t = params_.temperature;
  double sum = 0.0;
  for (Candidate& c : candidates_) {
    c.logit = std::exp((c.logit - max_logit) / t);  // now holds the unnormalised weight
    sum += c.logit;
  }
  const double target = uniform01(rng_) * sum;
  double cum = 0.0;
  for (const Candidate& c : candidates_) {
    cum += c.logit;
    if (target < cum) return c.id;
  }
  // Rounding put target at the very end: take the last candidate with non-zero weight.
  for (auto it = candidates_.rbegin(); it != candidates_.rend(); ++it)
    if (it->logit > 0.0f) return it->id;
  return candidates_.front().id;
}

}  // namespace packinfer
