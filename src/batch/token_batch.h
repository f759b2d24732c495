#pragma once
// The token batch: the one input of every forward pass. A flat list of N tokens, each with its
// sequence and position, plus per-sequence metadata. There is no [batch, max_len] tensor: many
// prompts packed together, a chunk of a long prompt, and one token per decoding sequence are all
// just token batches (see ../shared/DESIGN.md).
//
// A plain value: it refers to KV memory only through block ids (the sequence's block table), and
// nothing in it changes when the forward runs. Who owns the sequences and decides what runs is
// the scheduler's business (runner/step_plan.h is what it hands over).
#include <cstdint>
#include <span>
#include <vector>

namespace packinfer {

struct BatchSequence {
  int64_t begin = 0;  // index of its first token in the batch
  int64_t n_tokens = 0;
  int64_t pos0 = 0;  // position of its first token; the KV cache holds positions [0, pos0)
  // Block table: position p lives in block blocks[p / block_size]. Covers pos0 + n_tokens.
  std::span<const int32_t> blocks;
};

class TokenBatch {
 public:
  // Appends `tokens` of one sequence at positions pos0, pos0 + 1, ...; `logit_rows` are indices
  // into `tokens` (ascending) whose logits the forward must return.
  void add(std::span<const int32_t> tokens, int64_t pos0, std::span<const int32_t> blocks,
           std::span<const int32_t> logit_rows);
  void clear();

  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  bool empty() const { return tokens.empty(); }

  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<BatchSequence> sequences;
  // Batch indices of the tokens whose logits are wanted, in batch order; the forward returns
  // one row of logits per entry.
  std::vector<int64_t> logit_rows;
};

}  // namespace packinfer
