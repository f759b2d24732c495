#pragma once
// What a step costs in time, learned from the steps that ran (the latency-aware step budget of
// Sarathi-Serve, measured instead of profiled offline). A step's wall time is modelled as
//
//   seconds ≈ fixed + per_unit · cost
//
// where cost is the online policy's cost of the step (prompt tokens weighted by their attention,
// one unit per decode; see OnlinePolicy::token_cost). `fixed` is what a step costs whatever it
// holds (reading every weight once, thread hand-offs): it is learned from decode-only steps,
// whose cost is small. `per_unit` is learned from steps with prompt work, net of `fixed`. Both
// are exponentially weighted moving averages, so the model follows the machine's load.
//
// The policy asks the inverse: the largest cost whose predicted time stays within a target.
#include <cstdint>

namespace packinfer {

class StepCostModel {
 public:
  // Records a step that ran: its cost, whether it computed prompt tokens, its wall time.
  void observe(double cost, bool has_prompt, double seconds);

  // True once a step with prompt work was timed (before that per_unit is unknown).
  bool calibrated() const { return prompt_steps_ > 0; }
  // True once a decode-only step was timed.
  bool has_decode_steps() const { return decode_steps_ > 0; }

  double fixed_seconds() const { return fixed_; }
  double seconds_per_unit() const { return per_unit_; }
  // The wall time of a decode-only step of decodes costing `decode_cost` (the decodes'
  // inter-token latency when no prompt is being prefilled), from recent steps of about that
  // many decodes: one decode streams the weights, eight on 2 cores already compute-bound, so
  // one average over all decode steps would mix 8 ms and 12 ms steps. Without a cost: the
  // latest decode-only step's batch size.
  double decode_step_seconds(double decode_cost = 0) const;

  double predict(double cost) const { return fixed_ + per_unit_ * cost; }
  // The largest cost whose predicted time is at most `seconds` (0 when even an empty step
  // would take longer). Needs calibrated().
  double cost_within(double seconds) const;

 private:
  // Weight of a new sample. Prompt steps are rarer than decode steps, so they move faster.
  static constexpr double kFixedWeight = 0.1;
  static constexpr double kPerUnitWeight = 0.25;
  static constexpr double kDecodeWeight = 0.1;
  // Steps with less prompt cost than this say little about per_unit (the fixed part dominates
  // their time): they do not train it.
  static constexpr double kMinPromptCost = 8;

  // A sample above kSpikeFactor times the estimate is a spike and is skipped, unless the last
  // kSpikeStreak samples were spikes too. On the 2-core VMs of bench/RESULTS.md the guest
  // kernel's DAMON thread (kdamond) samples memory every 0.5 s and the step it lands in takes
  // 60-120 ms longer: learning that would shrink the next steps' chunks for no reason.
  static constexpr double kSpikeFactor = 1.8;
  static constexpr int kSpikeStreak = 3;

  // Decode-only steps in buckets of their cost (about their decode count): 1, 2-3, 4-7, ...
  static constexpr int kDecodeBuckets = 10;
  static constexpr int kWarmupSteps = 4;
  // Samples a decode bucket needs before it is preferred to a neighbour (see decode_step_seconds).
  static constexpr int64_t kTrustedSamples = 2;
  struct DecodeBucket {
    double seconds = 0;
    int64_t samples = 0;
    int spikes = 0;
  };
  static int bucket_of(double decode_cost);

  double fixed_ = 0, per_unit_ = 0;
  DecodeBucket decode_[kDecodeBuckets];
  int latest_decode_bucket_ = 0;
  int prompt_spikes_ = 0;
  int64_t prompt_steps_ = 0, decode_steps_ = 0;
};

}  // namespace packinfer
