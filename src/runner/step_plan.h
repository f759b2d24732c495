#pragma once
// The step plan: what the scheduler decided one forward pass computes, as a plain value, and what
// the model runner hands back. The scheduler has already taken every KV block the plan needs;
// the runner only computes (vLLM v1's SchedulerOutput -> ModelRunner -> ModelRunnerOutput).
#include <cstdint>
#include <span>
#include <vector>

namespace packinfer {

// One sequence's part of a forward.
struct PlannedSequence {
  uint64_t request_id = 0;      // the scheduler's request, echoed back in the output order
  std::vector<int32_t> tokens;  // tokens to run; the last n_padding are pads (padded baseline)
  int64_t n_padding = 0;
  int64_t pos0 = 0;  // position of tokens[0]: the KV cache already holds positions [0, pos0)
  // Block table covering positions [0, pos0 + tokens.size()); blocks holding positions the
  // plan writes belong to this sequence alone.
  std::vector<int32_t> blocks;
  std::vector<int32_t> logit_rows;  // ascending indices into tokens whose logits are wanted
  bool decode = false;              // one generated token (else prompt tokens)

  int64_t n_real() const { return static_cast<int64_t>(tokens.size()) - n_padding; }
};

struct StepPlan {
  std::vector<PlannedSequence> sequences;  // each request at most once

  bool empty() const { return sequences.empty(); }
  int64_t n_tokens() const {
    int64_t n = 0;
    for (const PlannedSequence& s : sequences) n += static_cast<int64_t>(s.tokens.size());
    return n;
  }
  int64_t n_logit_rows() const {
    int64_t n = 0;
    for (const PlannedSequence& s : sequences) n += static_cast<int64_t>(s.logit_rows.size());
    return n;
  }
};

// What a forward produced: one row of logits per planned logit row, sequence by sequence in plan
// order. Reused from step to step (the logits buffer keeps its capacity).
struct StepOutput {
  std::vector<float> logits;  // [n_logit_rows, n_vocab]
  int64_t n_vocab = 0;
  double seconds = 0;  // wall time of the forward
  double flops = 0;    // floating-point operations it computed (model/flops.h)

  std::span<const float> row(int64_t i) const {
    return std::span<const float>(logits).subspan(static_cast<size_t>(i * n_vocab),
                                                  static_cast<size_t>(n_vocab));
  }
};

}  // namespace packinfer
