// Properties of the prefill planner (prepacking) and the offline job planner, checked over many
// random inputs plus hand-made edge cases. Planning only: no model is loaded.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "batch/bin_packing.h"
#include "batch/job_makespan.h"
#include "batch/job_planner.h"
#include "batch/packing_planner.h"
#include "packinfer/error.h"

namespace packinfer {
namespace {

constexpr PackingMode kModes[] = {PackingMode::Packed, PackingMode::Padded, PackingMode::Single};

int64_t log_uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  std::uniform_real_distribution<double> u(std::log(static_cast<double>(lo)),
                                           std::log(static_cast<double>(hi) + 1));
  return std::clamp(static_cast<int64_t>(std::exp(u(rng))), lo, hi);
}

std::vector<int64_t> random_lengths(std::mt19937_64& rng, int64_t n) {
  std::vector<int64_t> lengths(static_cast<size_t>(n));
  for (int64_t& l : lengths) l = log_uniform(rng, 1, 3000);
  return lengths;
}

PrefillPlan plan(const std::vector<int64_t>& lengths, PackingMode mode, int64_t budget,
                 int64_t max_seqs = 0) {
  return plan_prefill(lengths, PackingOptions{mode, budget, max_seqs});
}

// Every invariant a consumer of a plan relies on, checked independently of the planner.
void expect_valid(const std::vector<int64_t>& lengths, const PrefillPlan& p) {
  const int64_t budget = p.options.max_batch_tokens;
  std::vector<int64_t> next_offset(lengths.size(), 0);
  std::vector<int64_t> last_forward(lengths.size(), -1);
  int64_t real = 0, slots = 0;
  for (size_t f = 0; f < p.forwards.size(); ++f) {
    const PlannedForward& fw = p.forwards[f];
    ASSERT_FALSE(fw.pieces.empty()) << "forward " << f;
    int64_t sum = 0, longest = 0;
    for (const PlanPiece& piece : fw.pieces) {
      ASSERT_GE(piece.prompt, 0);
      ASSERT_LT(piece.prompt, static_cast<int64_t>(lengths.size()));
      ASSERT_GE(piece.n_tokens, 1);
      // Chunks are contiguous, in order, and each in a strictly later forward than the last.
      EXPECT_EQ(piece.offset, next_offset[piece.prompt]) << "prompt " << piece.prompt;
      EXPECT_LT(last_forward[piece.prompt], static_cast<int64_t>(f)) << "prompt " << piece.prompt;
      next_offset[piece.prompt] = piece.offset + piece.n_tokens;
      last_forward[piece.prompt] = static_cast<int64_t>(f);
      sum += piece.n_tokens;
      longest = std::max(longest, piece.n_tokens);
    }
    EXPECT_LE(sum, budget) << "forward " << f;
    if (p.options.max_seqs > 0) {
      EXPECT_LE(static_cast<int64_t>(fw.pieces.size()), p.options.max_seqs);
    }
    int64_t want_slots = p.options.mode == PackingMode::Padded
                             ? static_cast<int64_t>(fw.pieces.size()) * longest
                             : sum;
    EXPECT_EQ(fw.real_tokens, sum);
    EXPECT_EQ(fw.slots, want_slots);
    // Chunks never exceed the budget, so even an over-long prompt's forwards keep slots in it.
    EXPECT_LE(fw.slots, budget) << "forward " << f;
    if (p.options.mode == PackingMode::Single) {
      EXPECT_EQ(fw.pieces.size(), 1u);
    }
    real += sum;
    slots += want_slots;
  }
  for (size_t i = 0; i < lengths.size(); ++i) {
    EXPECT_EQ(next_offset[i], lengths[i]) << "prompt " << i << " not fully covered";
  }
  EXPECT_EQ(p.stats.n_forwards, static_cast<int64_t>(p.forwards.size()));
  EXPECT_EQ(p.stats.real_tokens, real);
  EXPECT_EQ(p.stats.slots, slots);
  EXPECT_EQ(real, std::accumulate(lengths.begin(), lengths.end(), int64_t{0}));
  if (!p.forwards.empty()) {
    EXPECT_DOUBLE_EQ(p.stats.budget_efficiency,
                     static_cast<double>(real) / (static_cast<double>(p.forwards.size()) * budget));
    EXPECT_DOUBLE_EQ(p.stats.slot_efficiency, static_cast<double>(real) / slots);
  }
}

TEST(PackingPlanner, RandomPlansAreValidAndDeterministic) {
  std::mt19937_64 rng(20240501);
  for (int trial = 0; trial < 300; ++trial) {
    auto lengths = random_lengths(rng, std::uniform_int_distribution<int64_t>(1, 200)(rng));
    int64_t budget = log_uniform(rng, 64, 2048);
    int64_t max_seqs = trial % 3 == 0 ? std::uniform_int_distribution<int64_t>(1, 16)(rng) : 0;
    for (PackingMode mode : kModes) {
      SCOPED_TRACE(testing::Message() << "trial " << trial << " mode " << packing_mode_name(mode)
                                      << " budget " << budget << " max_seqs " << max_seqs);
      PrefillPlan a = plan(lengths, mode, budget, max_seqs);
      expect_valid(lengths, a);
      PrefillPlan b = plan(lengths, mode, budget, max_seqs);
      EXPECT_EQ(a.forwards, b.forwards);
      EXPECT_EQ(a.stats, b.stats);
      if (HasFailure()) return;
    }
  }
}

TEST(PackingPlanner, PackedBeatsBaselinesOnVariedLengths) {
  std::mt19937_64 rng(7);
  double packed_eff = 0, padded_eff = 0;
  const int trials = 200;
  for (int trial = 0; trial < trials; ++trial) {
    auto lengths = random_lengths(rng, std::uniform_int_distribution<int64_t>(2, 200)(rng));
    int64_t budget = log_uniform(rng, 64, 2048);
    SCOPED_TRACE(testing::Message() << "trial " << trial << " budget " << budget);
    PrefillPlan packed = plan(lengths, PackingMode::Packed, budget);
    PrefillPlan padded = plan(lengths, PackingMode::Padded, budget);
    PrefillPlan single = plan(lengths, PackingMode::Single, budget);
    EXPECT_DOUBLE_EQ(packed.stats.slot_efficiency, 1.0);  // no padding at all
    EXPECT_GE(packed.stats.slot_efficiency, padded.stats.slot_efficiency);
    EXPECT_LE(packed.stats.n_forwards, single.stats.n_forwards);
    // Not a theorem for every input, but on these seeds packing never needs more forwards.
    EXPECT_LE(packed.stats.n_forwards, padded.stats.n_forwards);
    // No forward can hold more than the budget, so ceil(total / budget) is a floor.
    int64_t floor = (packed.stats.real_tokens + budget - 1) / budget;
    EXPECT_GE(packed.stats.n_forwards, floor);
    packed_eff += packed.stats.budget_efficiency / trials;
    padded_eff += padded.stats.budget_efficiency / trials;
  }
  // Measured: packed fills ~98% of the forward budget on average, padded ~70%. Many prompts
  // here exceed the budget and chunk into full forwards in every mode, which narrows the gap.
  EXPECT_GT(packed_eff, 0.95);
  EXPECT_GT(packed_eff, padded_eff + 0.15);
}

TEST(PackingPlanner, PackedNeverWorseThanSingleWithSeqCap) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 100; ++trial) {
    auto lengths = random_lengths(rng, std::uniform_int_distribution<int64_t>(1, 100)(rng));
    int64_t budget = log_uniform(rng, 64, 2048);
    int64_t max_seqs = std::uniform_int_distribution<int64_t>(1, 8)(rng);
    EXPECT_LE(plan(lengths, PackingMode::Packed, budget, max_seqs).stats.n_forwards,
              plan(lengths, PackingMode::Single, budget, max_seqs).stats.n_forwards);
  }
}

TEST(PackingPlanner, LongPromptIsChunkedInOrder) {
  for (PackingMode mode : kModes) {
    PrefillPlan p = plan({2500}, mode, 1000);
    ASSERT_EQ(p.forwards.size(), 3u) << packing_mode_name(mode);
    EXPECT_EQ(p.forwards[0].pieces, (std::vector<PlanPiece>{{0, 0, 1000}}));
    EXPECT_EQ(p.forwards[1].pieces, (std::vector<PlanPiece>{{0, 1000, 1000}}));
    EXPECT_EQ(p.forwards[2].pieces, (std::vector<PlanPiece>{{0, 2000, 500}}));
  }
}

TEST(PackingPlanner, LongPromptRemainderSharesAForwardAfterItsChunks) {
  // 2300 = 2 x 1000 + 300; the 300-token remainder packs with the 700-token prompt.
  PrefillPlan p = plan({700, 2300}, PackingMode::Packed, 1000);
  expect_valid({700, 2300}, p);
  ASSERT_EQ(p.forwards.size(), 3u);
  EXPECT_EQ(p.forwards[2].pieces, (std::vector<PlanPiece>{{0, 0, 700}, {1, 2000, 300}}));
  EXPECT_DOUBLE_EQ(p.stats.budget_efficiency, 1.0);
}

TEST(PackingPlanner, EqualLengths) {
  std::vector<int64_t> lengths(10, 100);
  for (PackingMode mode : {PackingMode::Packed, PackingMode::Padded}) {
    PrefillPlan p = plan(lengths, mode, 256);
    expect_valid(lengths, p);
    EXPECT_EQ(p.stats.n_forwards, 5) << packing_mode_name(mode);
    EXPECT_DOUBLE_EQ(p.stats.slot_efficiency, 1.0);
  }
  EXPECT_EQ(plan(lengths, PackingMode::Single, 256).stats.n_forwards, 10);
}

TEST(PackingPlanner, BudgetOfOneToken) {
  std::vector<int64_t> lengths = {3, 1, 2};
  for (PackingMode mode : kModes) {
    PrefillPlan p = plan(lengths, mode, 1);
    expect_valid(lengths, p);
    EXPECT_EQ(p.stats.n_forwards, 6) << packing_mode_name(mode);
    EXPECT_DOUBLE_EQ(p.stats.budget_efficiency, 1.0);
  }
}

TEST(PackingPlanner, EmptyInputGivesEmptyPlan) {
  for (PackingMode mode : kModes) {
    PrefillPlan p = plan({}, mode, 512);
    EXPECT_TRUE(p.forwards.empty());
    EXPECT_EQ(p.stats, PlanStats{});
  }
}

TEST(PackingPlanner, RejectsBadInput) {
  try {
    plan({5, 7, 0, 3}, PackingMode::Packed, 512);
    FAIL() << "zero-length prompt accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("prompt 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(plan({5, -1}, PackingMode::Single, 512), InvalidArgument);
  EXPECT_THROW(plan({5}, PackingMode::Padded, 0), InvalidArgument);
  EXPECT_THROW(plan({5}, PackingMode::Packed, 8, -1), InvalidArgument);
}

TEST(PackingPlanner, PaddedFollowsInputOrderAndPadsToLongest) {
  // [10, 100] fills 2 x 100 = 200 slots; a third prompt would need 300, so [10, 10] follows.
  PrefillPlan p = plan({10, 100, 10, 10}, PackingMode::Padded, 200);
  ASSERT_EQ(p.forwards.size(), 2u);
  EXPECT_EQ(p.forwards[0].pieces, (std::vector<PlanPiece>{{0, 0, 10}, {1, 0, 100}}));
  EXPECT_EQ(p.forwards[1].pieces, (std::vector<PlanPiece>{{2, 0, 10}, {3, 0, 10}}));
  EXPECT_EQ(p.stats.slots, 220);
  EXPECT_EQ(p.stats.real_tokens, 130);
}

TEST(PackingPlanner, SeqCapLimitsPiecesPerForward) {
  std::vector<int64_t> lengths(10, 1);
  for (PackingMode mode : {PackingMode::Packed, PackingMode::Padded}) {
    PrefillPlan p = plan(lengths, mode, 1000, 3);
    expect_valid(lengths, p);
    EXPECT_EQ(p.stats.n_forwards, 4) << packing_mode_name(mode);
  }
}

TEST(PackingPlanner, KeepsTheBetterOfFirstAndBestFit) {
  // First-fit decreasing needs 3 bins here, best-fit decreasing 2.
  std::vector<int64_t> sizes = {9, 3, 5, 5, 2, 2};
  EXPECT_EQ(pack_decreasing(sizes, 13, 0, FitRule::FirstFit).size(), 3u);
  EXPECT_EQ(pack_decreasing(sizes, 13, 0, FitRule::BestFit).size(), 2u);
  PrefillPlan p = plan(sizes, PackingMode::Packed, 13);
  expect_valid(sizes, p);
  EXPECT_EQ(p.stats.n_forwards, 2);
}

TEST(BinPacking, EveryItemOnceWithinCapacity) {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    int64_t cap = log_uniform(rng, 1, 500);
    int64_t max_items = trial % 2 ? std::uniform_int_distribution<int64_t>(1, 6)(rng) : 0;
    std::vector<int64_t> sizes(std::uniform_int_distribution<size_t>(0, 300)(rng));
    for (int64_t& s : sizes) s = log_uniform(rng, 1, cap);
    for (FitRule rule : {FitRule::FirstFit, FitRule::BestFit}) {
      auto bins = pack_decreasing(sizes, cap, max_items, rule);
      std::vector<int> seen(sizes.size(), 0);
      for (const auto& bin : bins) {
        ASSERT_FALSE(bin.empty());
        int64_t load = 0;
        for (int64_t item : bin) {
          seen[item]++;
          load += sizes[item];
        }
        EXPECT_LE(load, cap);
        if (max_items > 0) {
          EXPECT_LE(static_cast<int64_t>(bin.size()), max_items);
        }
      }
      for (int s : seen) EXPECT_EQ(s, 1);
    }
  }
  EXPECT_THROW(pack_decreasing(std::vector<int64_t>{5}, 4, 0, FitRule::FirstFit), InvalidArgument);
}

// Quadratic textbook first/best fit decreasing, to check the O(n log n) versions bin for bin.
std::vector<std::vector<int64_t>> naive_pack(const std::vector<int64_t>& sizes, int64_t cap,
                                             int64_t max_items, FitRule rule) {
  std::vector<int64_t> order(sizes.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return sizes[a] > sizes[b]; });
  std::vector<std::vector<int64_t>> bins;
  std::vector<int64_t> room;
  for (int64_t item : order) {
    int64_t chosen = -1;
    for (size_t b = 0; b < bins.size(); ++b) {
      bool ok = room[b] >= sizes[item] &&
                (max_items == 0 || static_cast<int64_t>(bins[b].size()) < max_items);
      if (!ok) continue;
      if (chosen < 0 || (rule == FitRule::BestFit && room[b] < room[chosen])) {
        chosen = static_cast<int64_t>(b);
      }
      if (rule == FitRule::FirstFit) break;
    }
    if (chosen < 0) {
      chosen = static_cast<int64_t>(bins.size());
      bins.emplace_back();
      room.push_back(cap);
    }
    bins[chosen].push_back(item);
    room[chosen] -= sizes[item];
  }
  return bins;
}

TEST(BinPacking, MatchesNaiveReference) {
  std::mt19937_64 rng(17);
  for (int trial = 0; trial < 300; ++trial) {
    int64_t cap = log_uniform(rng, 1, 300);
    int64_t max_items = trial % 2 ? std::uniform_int_distribution<int64_t>(1, 5)(rng) : 0;
    std::vector<int64_t> sizes(std::uniform_int_distribution<size_t>(0, 120)(rng));
    for (int64_t& s : sizes) s = log_uniform(rng, 1, cap);
    for (FitRule rule : {FitRule::FirstFit, FitRule::BestFit}) {
      EXPECT_EQ(pack_decreasing(sizes, cap, max_items, rule),
                naive_pack(sizes, cap, max_items, rule))
          << "trial " << trial;
    }
  }
}

// --- job planner ---------------------------------------------------------------------------------

std::vector<int32_t> tokens(std::mt19937_64& rng, int64_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t& x : t) x = std::uniform_int_distribution<int32_t>(0, 31999)(rng);
  return t;
}

// Requests drawn from a few "system prompts" (shared prefixes) plus unrelated ones, shuffled.
std::vector<JobRequest> random_job(std::mt19937_64& rng, int64_t n, std::vector<int>& family) {
  std::vector<std::vector<int32_t>> prefixes;
  for (int i = 0; i < 4; ++i) prefixes.push_back(tokens(rng, log_uniform(rng, 16, 400)));
  std::vector<JobRequest> reqs;
  family.clear();
  for (int64_t i = 0; i < n; ++i) {
    int f = std::uniform_int_distribution<int>(-1, 3)(rng);  // -1: no shared prefix
    JobRequest r;
    if (f >= 0) r.prompt = prefixes[f];
    auto tail = tokens(rng, log_uniform(rng, 1, 300));
    r.prompt.insert(r.prompt.end(), tail.begin(), tail.end());
    r.max_new_tokens = log_uniform(rng, 1, 1000) - (i % 7 == 0 ? 1 : 0);  // some prefill-only
    reqs.push_back(std::move(r));
    family.push_back(f);
  }
  return reqs;
}

void expect_permutation(const std::vector<int64_t>& order, size_t n) {
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> want(n);
  std::iota(want.begin(), want.end(), int64_t{0});
  EXPECT_EQ(sorted, want);
}

TEST(JobPlanner, SharedPrefixRequestsAreAdjacent) {
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<int> family;
    auto reqs = random_job(rng, std::uniform_int_distribution<int64_t>(1, 120)(rng), family);
    JobPlan plan = plan_jobs(reqs);
    expect_permutation(plan.order, reqs.size());
    // Groups concatenate to the order, and every member really shares the reported prefix.
    std::vector<int64_t> concat;
    for (const PrefixGroup& g : plan.groups) {
      concat.insert(concat.end(), g.requests.begin(), g.requests.end());
      if (g.requests.size() > 1) {
        EXPECT_GE(g.shared_prefix, 16);
      }
      for (int64_t r : g.requests) {
        EXPECT_GE(common_prefix_length(reqs[g.requests[0]].prompt, reqs[r].prompt),
                  g.shared_prefix);
      }
    }
    EXPECT_EQ(concat, plan.order);
    // Members of one family (sharing >= 16 tokens) form one contiguous run of the order.
    std::map<int, std::pair<size_t, size_t>> span;  // family -> first, last position
    std::map<int, size_t> count;
    for (size_t pos = 0; pos < plan.order.size(); ++pos) {
      int f = family[plan.order[pos]];
      if (f < 0) continue;
      if (!span.count(f)) span[f] = {pos, pos};
      span[f].second = pos;
      count[f]++;
    }
    for (auto& [f, s] : span) EXPECT_EQ(s.second - s.first + 1, count[f]) << "family " << f;
  }
}

TEST(JobPlanner, DecodeHeavyFirst) {
  std::vector<JobRequest> reqs = {{{1, 2, 3}, 10}, {{4, 5}, 500}, {{6}, 50}};
  EXPECT_EQ(plan_jobs(reqs).order, (std::vector<int64_t>{1, 2, 0}));
  // Within a group too, and groups by their longest decode.
  std::vector<int32_t> sys(20, 7);
  auto with_sys = [&](int32_t tail) {
    std::vector<int32_t> p = sys;
    p.push_back(tail);
    return p;
  };
  reqs = {{with_sys(1), 5}, {{9, 9}, 100}, {with_sys(2), 300}, {with_sys(3), 20}};
  JobPlan plan = plan_jobs(reqs);
  EXPECT_EQ(plan.order, (std::vector<int64_t>{2, 3, 0, 1}));
  ASSERT_EQ(plan.groups.size(), 2u);
  EXPECT_EQ(plan.groups[0].shared_prefix, 20);
  EXPECT_EQ(plan.groups[1].shared_prefix, 0);
}

TEST(JobPlanner, ShortCommonPrefixDoesNotGroup) {
  std::vector<JobRequest> reqs = {{{1, 2, 3, 4}, 1}, {{1, 2, 3, 5}, 1}};
  EXPECT_EQ(plan_jobs(reqs).groups.size(), 2u);
  EXPECT_EQ(plan_jobs(reqs, {.min_shared_prefix = 3}).groups.size(), 1u);
  EXPECT_EQ(plan_jobs(reqs, {.min_shared_prefix = 3}).groups[0].shared_prefix, 3);
}

TEST(JobPlanner, RejectsBadInput) {
  std::vector<JobRequest> reqs = {{{1}, 1}, {{}, 1}};
  try {
    plan_jobs(reqs);
    FAIL() << "empty prompt accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("request 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(plan_jobs(std::vector<JobRequest>{{{1}, -1}}), InvalidArgument);
  EXPECT_TRUE(plan_jobs(std::vector<JobRequest>{}).order.empty());
}

TEST(JobMakespan, HandComputedSchedule) {
  // Two slots, prefill 100 tok/s, a decode step costs 1 + 0.5 x batch seconds.
  CostModel cost{100, 1.0, 0.5};
  std::vector<JobRequest> reqs = {{std::vector<int32_t>(100, 1), 3},
                                  {std::vector<int32_t>(50, 2), 2},
                                  {std::vector<int32_t>(10, 3), 1}};
  MakespanEstimate e = estimate_makespan(reqs, std::vector<int64_t>{0, 1, 2}, cost, {2});
  // Prefill 0 (1 s) and 1 (0.5 s); one step of 2 (2 s) finishes 1; prefill 2 (0.1 s), which
  // needs no decode step; one step of 1 (1.5 s) finishes 0.
  EXPECT_DOUBLE_EQ(e.prefill_seconds, 1.6);
  EXPECT_DOUBLE_EQ(e.decode_seconds, 3.5);
  EXPECT_DOUBLE_EQ(e.seconds, 5.1);
  EXPECT_EQ(e.decode_steps, 2);
  EXPECT_EQ(e.decode_tokens, 3);
  EXPECT_EQ(e.prefill_tokens, 160);
}

TEST(JobMakespan, LowerBoundNeverExceedsEstimate) {
  std::mt19937_64 rng(5);
  const double flops_per_token = 2e9, peak = 1e12;
  // Physically consistent: prefill at most peak / flops_per_token = 500 tok/s, and each sequence
  // in a decode step costs at least flops_per_token / peak = 2 ms.
  CostModel cost{400, 0.02, 0.0025};
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<int> family;
    auto reqs = random_job(rng, std::uniform_int_distribution<int64_t>(1, 100)(rng), family);
    double bound = makespan_lower_bound(reqs, flops_per_token, peak);
    JobPlan plan = plan_jobs(reqs);
    std::vector<int64_t> identity(reqs.size());
    std::iota(identity.begin(), identity.end(), int64_t{0});
    for (int64_t conc : {1, 4, 32}) {
      for (PrefixReuse reuse : {PrefixReuse::None, PrefixReuse::PreviousRequest}) {
        MakespanOptions opt{conc, reuse};
        for (const auto& order : {identity, plan.order}) {
          MakespanEstimate e = estimate_makespan(reqs, order, cost, opt);
          EXPECT_LE(bound, e.seconds);
          EXPECT_NEAR(e.seconds, e.prefill_seconds + e.decode_seconds, 1e-9 * e.seconds);
        }
      }
    }
    // Grouping lets a prefix cache skip more prompt tokens than the input order does.
    MakespanOptions reuse{8, PrefixReuse::PreviousRequest};
    EXPECT_LE(estimate_makespan(reqs, plan.order, cost, reuse).prefill_tokens,
              estimate_makespan(reqs, identity, cost, reuse).prefill_tokens);
  }
}

TEST(JobMakespan, RejectsBadInput) {
  std::vector<JobRequest> reqs = {{{1}, 1}, {{2}, 1}};
  CostModel cost;
  EXPECT_THROW(estimate_makespan(reqs, std::vector<int64_t>{0, 0}, cost, {}), InvalidArgument);
  EXPECT_THROW(estimate_makespan(reqs, std::vector<int64_t>{0}, cost, {}), InvalidArgument);
  EXPECT_THROW(estimate_makespan(reqs, std::vector<int64_t>{0, 1}, cost, {0}), InvalidArgument);
  EXPECT_THROW(estimate_makespan(reqs, std::vector<int64_t>{0, 1}, CostModel{0, 1, 1}, {}),
               InvalidArgument);
  EXPECT_THROW(makespan_lower_bound(reqs, 0, 1), InvalidArgument);
}

// The longest prefix each prompt shares with any other, checked against all pairs.
TEST(JobPlanner, LongestSharedPrefixMatchesBruteForce) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<JobRequest> reqs;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      JobRequest r;
      const int len = 1 + static_cast<int>(rng() % 8);
      for (int t = 0; t < len; ++t) r.prompt.push_back(static_cast<int32_t>(rng() % 3));
      reqs.push_back(r);
    }
    const std::vector<int64_t> got = longest_shared_prefixes(reqs);
    ASSERT_EQ(got.size(), reqs.size());
    for (size_t i = 0; i < reqs.size(); ++i) {
      int64_t want = 0;
      for (size_t j = 0; j < reqs.size(); ++j) {
        if (j != i) want = std::max(want, common_prefix_length(reqs[i].prompt, reqs[j].prompt));
      }
      EXPECT_EQ(got[i], want) << "trial " << trial << " request " << i;
    }
  }
}

}  // namespace
}  // namespace packinfer
