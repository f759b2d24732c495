#include "batch/packing_planner.h"

#include <algorithm>
#include <string>

#include "batch/bin_packing.h"
#include "packinfer/error.h"

namespace packinfer {
namespace {

void validate(std::span<const int64_t> lengths, const PackingOptions& options) {
  if (options.max_batch_tokens < 1) {
    throw InvalidArgument("max_batch_tokens must be at least 1, got " +
                          std::to_string(options.max_batch_tokens));
  }
  if (options.max_seqs < 0) {
    throw InvalidArgument("max_seqs must be 0 (no limit) or positive, got " +
                          std::to_string(options.max_seqs));
  }
  for (size_t i = 0; i < lengths.size(); ++i) {
    if (lengths[i] < 1) {
      throw InvalidArgument("prompt " + std::to_string(i) + " has length " +
                            std::to_string(lengths[i]) + "; every prompt needs at least one token");
    }
  }
}

PlannedForward single_piece(int64_t prompt, int64_t offset, int64_t n_tokens) {
  PlannedForward f;
  f.pieces.push_back({prompt, offset, n_tokens});
  return f;
}

// The budget-sized chunks [0, B), [B, 2B), ... of a prompt, each alone in a forward, excluding
// the remainder (length % B tokens), which the caller places.
void append_full_chunks(std::vector<PlannedForward>& out, int64_t prompt, int64_t length,
                        int64_t budget) {
  for (int64_t off = 0; off + budget <= length; off += budget) {
    out.push_back(single_piece(prompt, off, budget));
  }
}

// A prompt alone, chunked to the budget: full chunks, then the remainder if any.
void append_alone(std::vector<PlannedForward>& out, int64_t prompt, int64_t length,
                  int64_t budget) {
  append_full_chunks(out, prompt, length, budget);
  int64_t rem = length % budget;
  if (rem > 0) out.push_back(single_piece(prompt, length - rem, rem));
}

std::vector<PlannedForward> plan_single(std::span<const int64_t> lengths, int64_t budget) {
  std::vector<PlannedForward> out;
  for (size_t p = 0; p < lengths.size(); ++p) {
    append_alone(out, static_cast<int64_t>(p), lengths[p], budget);
  }
  return out;
}

// Hugging Face style: prompts in input order, each forward a [n, max_len] padded rectangle, a
// new forward started when the next prompt would push n * max_len past the budget. A prompt
// longer than the budget cannot share a rectangle and is chunked alone.
std::vector<PlannedForward> plan_padded(std::span<const int64_t> lengths, int64_t budget,
                                        int64_t max_seqs) {
  std::vector<PlannedForward> out;
  PlannedForward group;
  int64_t group_max = 0;
  auto flush = [&] {
    if (!group.pieces.empty()) out.push_back(std::move(group));
    group = PlannedForward{};
    group_max = 0;
  };
  for (size_t i = 0; i < lengths.size(); ++i) {
    int64_t p = static_cast<int64_t>(i);
    int64_t len = lengths[i];
    if (len > budget) {
      flush();
      append_alone(out, p, len, budget);
      continue;
    }
    int64_t n = static_cast<int64_t>(group.pieces.size()) + 1;
    int64_t new_max = std::max(group_max, len);
    // new_max <= budget / n  <=>  n * new_max <= budget, without overflow.
    bool fits = new_max <= budget / n && (max_seqs == 0 || n <= max_seqs);
    if (!fits) flush();
    group.pieces.push_back({p, 0, len});
    group_max = std::max(group_max, len);
  }
  flush();
  return out;
}

// Prepacking. A prompt of length L is cut into L / B full chunks, each of which fills a forward
// alone, and a remainder of L % B tokens; only the remainders (whole prompts when L < B) need
// packing. First-fit and best-fit decreasing are both run and the one with fewer forwards kept
// (first fit on ties). Ordering: before each packed forward come the full chunks of the prompts
// whose remainder it holds, so every remainder follows its full chunks and a long prompt's KV is
// held only from its first chunk to its last, not for the whole plan.
std::vector<PlannedForward> plan_packed(std::span<const int64_t> lengths, int64_t budget,
                                        int64_t max_seqs) {
  std::vector<PlannedForward> out;
  std::vector<int64_t> item_prompt, item_size;
  for (size_t p = 0; p < lengths.size(); ++p) {
    int64_t rem = lengths[p] % budget;
    if (rem > 0) {
      item_prompt.push_back(static_cast<int64_t>(p));
      item_size.push_back(rem);
    } else {
      // A multiple of the budget: nothing to pack, its chunks simply run back to back.
      append_full_chunks(out, static_cast<int64_t>(p), lengths[p], budget);
    }
  }
  auto bins = pack_decreasing(item_size, budget, max_seqs, FitRule::FirstFit);
  auto best = pack_decreasing(item_size, budget, max_seqs, FitRule::BestFit);
  if (best.size() < bins.size()) bins = std::move(best);

  for (std::vector<int64_t>& bin : bins) {
    for (int64_t& item : bin) item = item_prompt[item];  // items -> prompts
    std::sort(bin.begin(), bin.end());
    PlannedForward packed;
    for (int64_t p : bin) {
      int64_t len = lengths[p];
      int64_t rem = len % budget;
      append_full_chunks(out, p, len, budget);
      packed.pieces.push_back({p, len - rem, rem});
    }
    out.push_back(std::move(packed));
  }
  return out;
}

// Fills in per-forward token and slot counts and the plan statistics from the pieces.
void summarize_plan(PrefillPlan& plan) {
  PlanStats s;
  for (PlannedForward& f : plan.forwards) {
    int64_t longest = 0;
    f.real_tokens = 0;
    for (const PlanPiece& piece : f.pieces) {
      f.real_tokens += piece.n_tokens;
      longest = std::max(longest, piece.n_tokens);
    }
    // Only the padded layout computes rows that hold no token.
    f.slots = plan.options.mode == PackingMode::Padded
                  ? static_cast<int64_t>(f.pieces.size()) * longest
                  : f.real_tokens;
    s.real_tokens += f.real_tokens;
    s.slots += f.slots;
  }
  s.n_forwards = static_cast<int64_t>(plan.forwards.size());
  if (s.n_forwards > 0) {
    s.budget_efficiency =
        static_cast<double>(s.real_tokens) /
        (static_cast<double>(s.n_forwards) * static_cast<double>(plan.options.max_batch_tokens));
    s.slot_efficiency = static_cast<double>(s.real_tokens) / static_cast<double>(s.slots);
  }
  plan.stats = s;
}

}  // namespace

const char* prefill_mode_name(PrefillMode mode) {
  switch (mode) {
    case PrefillMode::Packed:
      return "packed";
    case PrefillMode::Padded:
      return "padded";
    case PrefillMode::Single:
      return "single";
  }
  return "unknown";
}

PrefillMode parse_prefill_mode(const std::string& name) {
  if (name == "packed") return PrefillMode::Packed;
  if (name == "padded") return PrefillMode::Padded;
  if (name == "single") return PrefillMode::Single;
  throw InvalidArgument("unknown prefill mode '" + name + "' (use packed, padded or single)");
}

PrefillPlan plan_prefill(std::span<const int64_t> prompt_lengths, const PackingOptions& options) {
  validate(prompt_lengths, options);
  PrefillPlan plan;
  plan.options = options;
  const int64_t budget = options.max_batch_tokens;
  switch (options.mode) {
    case PackingMode::Packed:
      plan.forwards = plan_packed(prompt_lengths, budget, options.max_seqs);
      break;
    case PackingMode::Padded:
      plan.forwards = plan_padded(prompt_lengths, budget, options.max_seqs);
      break;
    case PackingMode::Single:
      plan.forwards = plan_single(prompt_lengths, budget);
      break;
  }
  summarize_plan(plan);
  return plan;
}

}  // namespace packinfer
