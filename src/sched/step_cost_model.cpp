#include "sched/step_cost_model.h"

#include <algorithm>
#include <limits>

namespace packinfer {
namespace {

double ewma(double current, double sample, double weight, bool first) {
  return first ? sample : current + weight * (sample - current);
}

}  // namespace

void StepCostModel::observe(double cost, bool has_prompt, double seconds) {
  if (!(seconds > 0) || !(cost > 0)) return;
  if (!has_prompt) {
    decode_step_ = ewma(decode_step_, seconds, kDecodeWeight, decode_steps_ == 0);
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
  per_unit_ = ewma(per_unit_, unit, kPerUnitWeight, prompt_steps_ == 0);
  prompt_steps_++;
}

double StepCostModel::cost_within(double seconds) const {
  if (!(per_unit_ > 0)) return std::numeric_limits<double>::infinity();
  return std::max(0.0, (seconds - fixed_) / per_unit_);
}

}  // namespace packinfer
