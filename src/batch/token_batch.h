#pragma once
// The token batch: the one input of every forward pass. A flat list of N tokens, each with its
// sequence and position, plus per-sequence metadata. There is no [batch, max_len] tensor: many
// prompts packed together, a chunk of a long prompt, and one token per decoding sequence are all
// just token batches (see ../shared/DESIGN.md).
#include <cstdint>
#include <span>
#include <vector>

#include "kv/kv_cache.h"

namespace packinfer {

enum class LogitsWanted { None, Last, All };

struct BatchSequence {
  SequenceKv* kv = nullptr;  // the sequence's cache; kv->n_tokens == pos0 before the forward
  int64_t begin = 0;         // index of its first token in the batch
  int64_t n_tokens = 0;
  int64_t pos0 = 0;  // position of its first token in the batch
};

class TokenBatch {
 public:
  // Appends `tokens` of one sequence at positions kv->n_tokens, kv->n_tokens + 1, ...
  void add(SequenceKv* kv, std::span<const int32_t> tokens, LogitsWanted logits);
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
