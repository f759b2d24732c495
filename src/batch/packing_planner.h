#pragma once
// Prefill planning (prepacking, Zhao et al. 2024): decides which prompts, or which chunks of
// them, share each forward pass. Planning only: the plan is turned into token batches and run
// elsewhere. Every prompt restarts its positions at 0 and attends only to itself, so packing
// changes the cost of prefill, never its result.
#include <cstdint>
#include <span>
#include <vector>

#include "packinfer/batch.h"  // PrefillMode, prefill_mode_name

namespace packinfer {

// The planner's modes are the public prefill modes: Packed bin-packs prompts (chunked to the
// budget) into as few forwards as possible; Padded keeps input order in greedy groups padded to
// their longest prompt (Hugging Face); Single runs one prompt per forward.
using PackingMode = PrefillMode;
inline const char* packing_mode_name(PackingMode mode) { return prefill_mode_name(mode); }

struct PackingOptions {
  PackingMode mode = PackingMode::Packed;
  int64_t max_batch_tokens = 2048;  // token budget of one forward; Padded counts padding slots
  int64_t max_seqs = 0;             // most pieces (sequences) in one forward; 0 = no limit
};

// A contiguous run of one prompt's tokens: [offset, offset + n_tokens).
struct PlanPiece {
  int64_t prompt = 0;  // index into the prompt lengths
  int64_t offset = 0;
  int64_t n_tokens = 0;
  bool operator==(const PlanPiece&) const = default;
};

struct PlannedForward {
  std::vector<PlanPiece> pieces;  // by prompt index; a prompt appears at most once per forward
  int64_t real_tokens = 0;        // sum of the pieces' n_tokens
  int64_t slots = 0;              // token rows computed: real tokens, plus padding when Padded
  bool operator==(const PlannedForward&) const = default;
};

struct PlanStats {
  int64_t n_forwards = 0;
  int64_t real_tokens = 0;
  int64_t slots = 0;
  double budget_efficiency = 0;  // real_tokens / (n_forwards * max_batch_tokens); 0 if no forwards
  double slot_efficiency = 0;    // real_tokens / slots; 0 if no forwards
  bool operator==(const PlanStats&) const = default;
};

// Forwards in execution order. A prompt's chunks run in strictly later forwards than the chunks
// before them, because each chunk attends to the KV its predecessors wrote.
struct PrefillPlan {
  PackingOptions options;
  std::vector<PlannedForward> forwards;
  PlanStats stats;
};

// Plans the prefill of prompts of the given lengths (index = prompt id). Deterministic: the plan
// depends only on the arguments. Throws InvalidArgument for max_batch_tokens < 1, max_seqs < 0 or
// a prompt shorter than one token (the message names it).
//
// Prompts longer than the budget are cut into budget-sized chunks and a remainder; in every mode
// each forward then holds at most max_batch_tokens real tokens. In Padded mode slots (pieces x
// longest piece) also stay within the budget.
PrefillPlan plan_prefill(std::span<const int64_t> prompt_lengths, const PackingOptions& options);

}  // namespace packinfer
