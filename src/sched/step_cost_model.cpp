#include "sched/step_cost_model.h"

#include <algorithm>
#include <limits>

namespace packinfer {
namespace {

double ewma(double current, double sample, double weight, bool first) {
  return first ? sample : current + weight * (sample - current);
}

// True when `sample` is a lone spike above the estimate: a step that a page-table scan, another
// process or an interrupt slowed down says nothing about the next step. Several spikes in a row
// are the machine getting slower, and are learned.
bool spike(double sample, double current, int& streak, int limit, double factor) {
  if (current > 0 && sample > factor * current && streak < limit) {
    streak++;
    return true;
  }
  streak = 0;
  return false;
}

}  // namespace

int StepCostModel::bucket_of(double decode_cost) {
  int b = 0;
  for (double c = decode_cost; c >= 2 && b + 1 < kDecodeBuckets; c /= 2) ++b;
  return b;
}

void StepCostModel::observe(double cost, bool has_prompt, double seconds) {
  if (!(seconds > 0) || !(cost > 0)) return;
  if (!has_prompt) {
    const int bucket = bucket_of(cost);
    DecodeBucket& d = decode_[static_cast<size_t>(bucket)];
    if (d.samples >= kWarmupSteps &&
        spike(seconds, d.seconds, d.spikes, kSpikeStreak, kSpikeFactor))
      return;
    // The first steps after start-up pay page faults and first touches: while warming up the
    // estimate is the fastest step seen, then a moving average.
    d.seconds = d.samples == 0             ? seconds
                : d.samples < kWarmupSteps ? std::min(d.seconds, seconds)
                                           : ewma(d.seconds, seconds, kDecodeWeight, false);
    d.samples++;
    latest_decode_bucket_ = bucket;
    // What is left of the step once its units are paid. Before any prompt step per_unit is
    // unknown and the whole step counts as fixed (an overestimate: chunks start smaller).
    const double fixed = std::max(0.0, seconds - per_unit_ * cost);
    fixed_ = ewma(fixed_, fixed, kFixedWeight, decode_steps_ == 0);
    decode_steps_++;
    return;
  }
  if (cost < kMinPromptCost) return;
  // The prompt units pay for what the fixed part does not. A mixed step overlaps some of the
  // decodes' weight reads with the chunk's compute, so `fixed` may exceed its real share; at
  // least a quarter of the step is charged to the units so per_unit never collapses to zero.
  const double unit = std::max(seconds - fixed_, 0.25 * seconds) / cost;
  if (spike(unit, per_unit_, prompt_spikes_, kSpikeStreak, kSpikeFactor)) return;
  per_unit_ = ewma(per_unit_, unit, kPerUnitWeight, prompt_steps_ == 0);
  prompt_steps_++;
}

double StepCostModel::decode_step_seconds(double decode_cost) const {
  // This batch's bucket, else the nearest measured one (a smaller batch first: its step is
  // shorter, so the target it gives errs on the side of smooth streams). A bucket with a single
  // sample is used only when no bucket has more: that sample may be a slow first step (fresh KV
  // blocks, a stall of the VM), and when a long prompt arrives right after it every later step
  // mixes, so no decode-only step of that size would correct it for the whole prompt.
  const int want = decode_cost > 0 ? bucket_of(decode_cost) : latest_decode_bucket_;
  for (int64_t least : {kTrustedSamples, int64_t{1}}) {
    for (int dist = 0; dist < kDecodeBuckets; ++dist) {
      for (int b : {want - dist, want + dist}) {
        if (b >= 0 && b < kDecodeBuckets && decode_[static_cast<size_t>(b)].samples >= least)
          return decode_[static_cast<size_t>(b)].seconds;
      }
    }
  }
  return 0;
}

double StepCostModel::cost_within(double seconds) const {
  if (!(per_unit_ > 0)) return std::numeric_limits<double>::infinity();
  return std::max(0.0, (seconds - fixed_) / per_unit_);
}

}  // namespace packinfer
