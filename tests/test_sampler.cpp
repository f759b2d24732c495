#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "packinfer/error.h"
#include "packinfer/sampling_params.h"
#include "sample/sampler.h"

namespace packinfer {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Params with every filter off, so a test enables only what it looks at.
SamplingParams plain(float temperature, uint64_t seed = 1) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

// Draws n tokens from the same logits (copied each time: sample() modifies them in place).
std::vector<int> counts_of(Sampler& s, const std::vector<float>& logits, int n) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = logits;
    counts[s.sample(l, {})]++;
  }
  return counts;
}

std::vector<float> random_logits(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> l(n);
  for (float& v : l) v = dist(rng);
  return l;
}

std::vector<double> softmax(const std::vector<float>& logits, double t) {
  double m = -1e300, sum = 0;
  for (float l : logits) m = std::max(m, double(l));
  std::vector<double> p;
  for (float l : logits) p.push_back(std::exp((l - m) / t)), sum += p.back();
  for (double& v : p) v /= sum;
  return p;
}

// ---------------------------------------------------------------------------------------------
// validate()

void expect_invalid(const SamplingParams& p, const std::string& field) {
  try {
    p.validate();
    ADD_FAILURE() << "validate() accepted a bad " << field;
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

template <typename F>
void expect_invalid_with(F set, const std::string& field) {
  SamplingParams p;
  set(p);
  expect_invalid(p, field);
}

TEST(SamplingParamsValidate, DefaultsAndBoundariesAreAccepted) {
  EXPECT_NO_THROW(SamplingParams{}.validate());
  EXPECT_NO_THROW(SamplingParams::greedy().validate());
  SamplingParams p;
  p.temperature = 100.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.repetition_penalty = 10.0f;
  p.repetition_window = -1;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.max_tokens = -1;
  p.stop = std::vector<std::string>(16, std::string(256, 'x'));
  p.stop_token_ids = {0, 5};
  EXPECT_NO_THROW(p.validate());
}

TEST(SamplingParamsValidate, RejectsEachBadValueNamingTheField) {
  for (float t : {-0.1f, 100.5f, kInf, kNaN})
    expect_invalid_with([&](SamplingParams& p) { p.temperature = t; }, "temperature");
  expect_invalid_with([](SamplingParams& p) { p.top_k = -1; }, "top_k");
  for (float v : {0.0f, -0.5f, 1.01f, kNaN})
    expect_invalid_with([&](SamplingParams& p) { p.top_p = v; }, "top_p");
  for (float v : {-0.01f, 1.5f, kNaN})
    expect_invalid_with([&](SamplingParams& p) { p.min_p = v; }, "min_p");
  for (float v : {0.0f, -1.0f, 11.0f, kInf, kNaN})
    expect_invalid_with([&](SamplingParams& p) { p.repetition_penalty = v; }, "repetition_penalty");
  expect_invalid_with([](SamplingParams& p) { p.repetition_window = -2; }, "repetition_window");
  for (float v : {-2.5f, 2.5f, kNaN}) {
    expect_invalid_with([&](SamplingParams& p) { p.presence_penalty = v; }, "presence_penalty");
    expect_invalid_with([&](SamplingParams& p) { p.frequency_penalty = v; }, "frequency_penalty");
  }
  for (int32_t v : {-2, (1 << 20) + 1})
    expect_invalid_with([&](SamplingParams& p) { p.max_tokens = v; }, "max_tokens");
  expect_invalid_with([](SamplingParams& p) { p.stop = std::vector<std::string>(17, "x"); },
                      "stop");
  expect_invalid_with([](SamplingParams& p) { p.stop = {"ok", ""}; }, "stop[1]");
  expect_invalid_with([](SamplingParams& p) { p.stop = {std::string(257, 'x')}; }, "stop[0]");
  expect_invalid_with([](SamplingParams& p) { p.stop_token_ids = {3, -1}; }, "stop_token_ids[1]");
}

// ---------------------------------------------------------------------------------------------
// Greedy and determinism

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  Sampler s(SamplingParams::greedy(), 6);
  std::vector<float> l = {0.1f, 2.0f, -1.0f, 3.5f, 3.5f, 0.0f};
  EXPECT_EQ(s.sample(l, {}), 3);
  std::vector<float> all_equal(6, 1.0f);
  EXPECT_EQ(s.sample(all_equal, {}), 0);
  EXPECT_EQ(argmax(std::vector<float>{-5.0f, -1.0f, -1.0f}), 1);
}

// logit_bias is added before the greedy shortcut and the draw: -100 bans a token, +100 forces it;
// ids beyond the vocabulary are ignored here (the server refuses them first).
TEST(Sampler, LogitBiasBansAndForces) {
  SamplingParams g = SamplingParams::greedy();
  g.logit_bias = {{3, -100.0f}, {4, -100.0f}, {99, 50.0f}};
  Sampler s(g, 6);
  std::vector<float> l = {0.1f, 2.0f, -1.0f, 3.5f, 3.5f, 0.0f};
  EXPECT_EQ(s.sample(l, {}), 1);
  SamplingParams hot;
  hot.temperature = 1.0f;
  hot.top_k = 0;
  hot.top_p = 1.0f;
  hot.min_p = 0.0f;
  hot.seed = 3;
  hot.logit_bias = {{2, 100.0f}};
  Sampler t(hot, 6);
  for (int i = 0; i < 50; ++i) {
    std::vector<float> x = {0.1f, 2.0f, -1.0f, 3.5f, 3.5f, 0.0f};
    EXPECT_EQ(t.sample(x, {}), 2);
  }
  expect_invalid_with([](SamplingParams& p) { p.logit_bias = {{1, 100.5f}}; }, "logit_bias");
  expect_invalid_with([](SamplingParams& p) { p.logit_bias = {{-1, 1.0f}}; }, "logit_bias");
  expect_invalid_with([](SamplingParams& p) { p.logit_bias = {{1, kNaN}}; }, "logit_bias");
}

TEST(Sampler, GreedyOnLargeVocabIsSinglePassFast) {
  const int32_t vocab = 49152;
  std::vector<float> logits = random_logits(vocab, 7);
  logits[40000] = 100.0f;
  Sampler s(SamplingParams::greedy(), vocab);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) ASSERT_EQ(s.sample(logits, {}), 40000);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  // ~0.05 ms per call expected; the bound only catches a sort sneaking in (and survives -O0).
  EXPECT_LT(ms / 200, 2.0);
}

TEST(Sampler, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  const std::vector<float> logits = random_logits(50, 3);
  auto draws = [&](uint64_t seed) {
    SamplingParams p = plain(1.5f, seed);
    Sampler s(p, 50);
    std::vector<int32_t> out;
    for (int i = 0; i < 200; ++i) {
      std::vector<float> l = logits;
      out.push_back(s.sample(l, {}));
    }
    return out;
  };
  EXPECT_EQ(draws(42), draws(42));
  EXPECT_NE(draws(42), draws(43));
}

TEST(Sampler, DefaultParamsOnLargeVocabDrawFromTheTopK) {
  const int32_t vocab = 49152;
  SamplingParams p;  // top_k 40, top_p 0.95, min_p 0.05, temperature 0.8
  p.seed = 9;
  Sampler s(p, vocab);
  std::vector<float> logits = random_logits(vocab, 11);
  std::vector<float> sorted = logits;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  for (int i = 0; i < 100; ++i) {
    std::vector<float> l = logits;
    const int32_t id = s.sample(l, {});
    ASSERT_GE(id, 0);
    ASSERT_LT(id, vocab);
    EXPECT_GE(logits[id], sorted[39]);
  }
}

// ---------------------------------------------------------------------------------------------
// Truncation filters

TEST(Sampler, TopKOneEqualsGreedyForAnyTemperature) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> logits = random_logits(100, seed);
    for (float t : {0.01f, 0.5f, 1.0f, 5.0f, 100.0f}) {
      SamplingParams p = plain(t, seed);
      p.top_k = 1;
      Sampler s(p, 100);
      std::vector<float> l = logits;
      EXPECT_EQ(s.sample(l, {}), argmax(logits)) << "seed " << seed << " T " << t;
    }
  }
}

TEST(Sampler, TopKKeepsOnlyTheKBest) {
  SamplingParams p = plain(5.0f);
  p.top_k = 2;
  Sampler s(p, 5);
  auto c = counts_of(s, {1.0f, 3.0f, 2.9f, 2.0f, 0.0f}, 2000);
  EXPECT_EQ(c[0] + c[3] + c[4], 0);
  EXPECT_GT(c[1], 0);
  EXPECT_GT(c[2], 0);
}

TEST(Sampler, TinyTopPKeepsOnlyTheBest) {
  SamplingParams p = plain(10.0f);
  p.top_p = 1e-6f;
  Sampler s(p, 100);
  const std::vector<float> logits = random_logits(100, 5);
  auto c = counts_of(s, logits, 500);
  EXPECT_EQ(c[argmax(logits)], 500);
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  // Probabilities 0.5, 0.3, 0.15, 0.05: with top_p 0.75 the first two are kept (0.5 < 0.75).
  const std::vector<float> logits = {std::log(0.15f), std::log(0.5f), std::log(0.05f),
                                     std::log(0.3f)};
  SamplingParams p = plain(1.0f);
  p.top_p = 0.75f;
  Sampler s(p, 4);
  auto c = counts_of(s, logits, 4000);
  EXPECT_EQ(c[0] + c[2], 0);
  EXPECT_NEAR(c[1] / 4000.0, 0.5 / 0.8, 0.04);
}

TEST(Sampler, MinPDropsTokensBelowFractionOfBest) {
  // p = 0.5, 0.3, 0.15, 0.05; min_p 0.2 -> threshold 0.1: only the last token goes.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  SamplingParams p = plain(1.0f);
  p.min_p = 0.2f;
  Sampler s(p, 4);
  auto c = counts_of(s, logits, 4000);
  EXPECT_EQ(c[3], 0);
  EXPECT_GT(c[0], 0);
  EXPECT_GT(c[1], 0);
  EXPECT_GT(c[2], 0);

  p.min_p = 1.0f;  // only tokens as likely as the best survive
  Sampler only_best(p, 4);
  EXPECT_EQ(counts_of(only_best, logits, 500)[0], 500);
}

// ---------------------------------------------------------------------------------------------
// Temperature: the empirical distribution matches softmax(logits / T)

TEST(Sampler, EmpiricalDistributionMatchesTemperedSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f};
  const int n = 40000;
  for (float t : {0.5f, 1.0f, 2.5f}) {
    Sampler s(plain(t, 1234), 5);
    const auto counts = counts_of(s, logits, n);
    const auto expected = softmax(logits, t);
    double chi2 = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      const double e = expected[i] * n;
      chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    // 4 degrees of freedom: P(chi2 > 18.5) = 0.001 for a correct sampler.
    EXPECT_LT(chi2, 18.5) << "T " << t;
  }
}

// ---------------------------------------------------------------------------------------------
// Penalties: each changes exactly the logits it should

struct PenaltyCase {
  std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.0f, 3.0f, -1.0f, 0.5f};
  // Counts: token 0 x2, token 1 x1, token 2 x3, token 5 x1; 3, 4, 6 absent.
  std::vector<int32_t> history = {0, 1, 0, 5, 2, 2, 2};
};

std::vector<float> penalised(const SamplingParams& p, const std::vector<float>& logits,
                             const std::vector<int32_t>& history) {
  Sampler s(p, static_cast<int32_t>(logits.size()));
  std::vector<float> l = logits;
  s.sample(l, history);
  return l;
}

TEST(SamplerPenalties, RepetitionPenaltyDividesPositiveMultipliesNegative) {
  PenaltyCase c;
  SamplingParams p = SamplingParams::greedy();
  p.repetition_penalty = 2.0f;
  p.repetition_window = -1;
  const auto l = penalised(p, c.logits, c.history);
  EXPECT_EQ(l, (std::vector<float>{1.0f, -4.0f, 0.5f, 0.0f, 3.0f, -2.0f, 0.5f}));
}

TEST(SamplerPenalties, PresenceSubtractsOncePerPresentToken) {
  PenaltyCase c;
  SamplingParams p = SamplingParams::greedy();
  p.presence_penalty = 0.5f;
  p.repetition_window = -1;
  const auto l = penalised(p, c.logits, c.history);
  EXPECT_EQ(l, (std::vector<float>{1.5f, -2.5f, 0.5f, 0.0f, 3.0f, -1.5f, 0.5f}));
}

TEST(SamplerPenalties, FrequencySubtractsPerOccurrence) {
  PenaltyCase c;
  SamplingParams p = SamplingParams::greedy();
  p.frequency_penalty = 0.25f;
  p.repetition_window = -1;
  const auto l = penalised(p, c.logits, c.history);
  EXPECT_EQ(l, (std::vector<float>{1.5f, -2.25f, 0.25f, 0.0f, 3.0f, -1.25f, 0.5f}));
}

TEST(SamplerPenalties, CombinedAppliesRepetitionFirstThenPresenceAndFrequency) {
  PenaltyCase c;
  SamplingParams p = SamplingParams::greedy();
  p.repetition_penalty = 2.0f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = -0.25f;  // negative values encourage repeats
  p.repetition_window = -1;
  const auto l = penalised(p, c.logits, c.history);
  // token 0: 2/2 + 0.5 - 0.5 = 1; token 1: -4 + 0.25 - 0.5; token 2: 0.5 + 0.75 - 0.5;
  // token 5: -2 + 0.25 - 0.5.
  EXPECT_EQ(l, (std::vector<float>{1.0f, -4.25f, 0.75f, 0.0f, 3.0f, -2.25f, 0.5f}));
}

TEST(SamplerPenalties, WindowLimitsTheHistoryLookedAt) {
  PenaltyCase c;
  SamplingParams p = SamplingParams::greedy();
  p.frequency_penalty = 1.0f;
  p.repetition_window = 3;  // last three tokens: 2, 2, 2
  auto l = penalised(p, c.logits, c.history);
  EXPECT_EQ(l, (std::vector<float>{2.0f, -2.0f, -2.0f, 0.0f, 3.0f, -1.0f, 0.5f}));

  p.repetition_window = 0;  // penalties off
  EXPECT_EQ(penalised(p, c.logits, c.history), c.logits);

  p.repetition_window = 100;  // larger than the history: all of it
  l = penalised(p, c.logits, c.history);
  EXPECT_EQ(l[0], 0.0f);
}

TEST(SamplerPenalties, OutOfRangeHistoryIdsIgnoredAndScratchResetBetweenCalls) {
  SamplingParams p = SamplingParams::greedy();
  p.frequency_penalty = 1.0f;
  p.repetition_window = -1;
  Sampler s(p, 3);
  std::vector<float> l = {1.0f, 1.0f, 1.0f};
  const std::vector<int32_t> h1 = {-1, 0, 7, 0, 3};
  EXPECT_EQ(s.sample(l, h1), 1);
  EXPECT_EQ(l, (std::vector<float>{-1.0f, 1.0f, 1.0f}));
  l = {1.0f, 1.0f, 1.0f};
  const std::vector<int32_t> h2 = {2};
  EXPECT_EQ(s.sample(l, h2), 0);
  EXPECT_EQ(l, (std::vector<float>{1.0f, 1.0f, 0.0f}));  // nothing left over from h1
}

// ---------------------------------------------------------------------------------------------
// Non-finite logits

TEST(SamplerNonFinite, NaNIsMinusInfinity) {
  std::vector<float> l = {kNaN, 1.0f, kNaN, -kInf, 0.5f};
  EXPECT_EQ(argmax(l), 1);
  Sampler s(plain(1.0f), 5);
  auto c = counts_of(s, l, 1000);
  EXPECT_EQ(c[0] + c[2] + c[3], 0);
  EXPECT_EQ(c[1] + c[4], 1000);
}

TEST(SamplerNonFinite, AllMinusInfOrNaNGivesTokenZero) {
  for (float t : {0.0f, 1.0f}) {
    Sampler s(plain(t), 4);
    std::vector<float> neg = {-kInf, -kInf, -kInf, -kInf};
    EXPECT_EQ(s.sample(neg, {}), 0);
    std::vector<float> nan = {kNaN, kNaN, kNaN, kNaN};
    EXPECT_EQ(s.sample(nan, {}), 0);
    std::vector<float> mixed = {kNaN, -kInf, kNaN, -kInf};
    EXPECT_EQ(s.sample(mixed, {}), 0);
  }
}

TEST(SamplerNonFinite, OnlyFiniteTokenIsAlwaysDrawn) {
  SamplingParams p = plain(2.0f);
  p.top_p = 0.9f;
  p.min_p = 0.1f;
  p.top_k = 3;
  Sampler s(p, 5);
  auto c = counts_of(s, {-kInf, kNaN, -3.0f, -kInf, kNaN}, 200);
  EXPECT_EQ(c[2], 200);
}

TEST(SamplerNonFinite, PlusInfinityWinsDeterministically) {
  Sampler s(plain(1.0f), 4);
  auto c = counts_of(s, {1.0f, kInf, 2.0f, kInf}, 100);
  EXPECT_EQ(c[1], 100);
}

TEST(SamplerNonFinite, TinyTemperatureDoesNotOverflow) {
  Sampler s(plain(1e-30f), 3);
  auto c = counts_of(s, {1.0f, 1.5f, -1e30f}, 100);
  EXPECT_EQ(c[1], 100);
}

TEST(Sampler, WrongLogitCountThrows) {
  Sampler s(plain(1.0f), 4);
  std::vector<float> l(3, 0.0f);
  EXPECT_THROW(s.sample(l, {}), Error);
}

// ---------------------------------------------------------------------------------------------
// Log-probabilities

TEST(Logprobs, MatchLogSoftmaxAndSortDescending) {
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, -2.0f, kNaN, 0.0f};
  const auto p = softmax({1.0f, 3.0f, 3.0f, -2.0f, -1e30f, 0.0f}, 1.0);
  const auto top = top_logprobs(logits, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);  // tie: lowest id first
  EXPECT_EQ(top[1].first, 2);
  EXPECT_EQ(top[2].first, 0);
  for (const auto& [id, lp] : top) EXPECT_NEAR(lp, std::log(p[id]), 1e-5);
  EXPECT_NEAR(token_logprob(logits, 3), std::log(p[3]), 1e-5);
  EXPECT_EQ(token_logprob(logits, 4), -kInf);

  double total = 0;
  for (int32_t i = 0; i < 6; ++i) total += std::exp(token_logprob(logits, i));
  EXPECT_NEAR(total, 1.0, 1e-6);

  EXPECT_EQ(top_logprobs(logits, 100).size(), 6u);
  EXPECT_TRUE(top_logprobs(logits, 0).empty());
  EXPECT_THROW(token_logprob(logits, 6), InvalidArgument);
  EXPECT_THROW(token_logprob(logits, -1), InvalidArgument);
}

TEST(Logprobs, NonFiniteLogits) {
  const std::vector<float> inf = {0.0f, kInf, 1.0f, kInf};
  EXPECT_NEAR(token_logprob(inf, 1), std::log(0.5f), 1e-6);
  EXPECT_EQ(token_logprob(inf, 2), -kInf);
  const std::vector<float> none = {-kInf, kNaN};
  EXPECT_EQ(token_logprob(none, 0), -kInf);
  EXPECT_EQ(top_logprobs(none, 2).size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// StopStringMatcher

struct Streamed {
  std::string text;
  bool stopped = false;
};

// Pushes the chunks, then flushes; returns everything emitted.
Streamed stream(const std::vector<std::string>& stops, const std::vector<std::string>& chunks) {
  StopStringMatcher m(stops);
  Streamed out;
  for (const std::string& c : chunks) {
    auto r = m.push(c);
    out.text += r.emit;
    out.stopped = out.stopped || r.stopped;
  }
  out.text += m.flush();
  out.stopped = out.stopped || m.stopped();
  return out;
}

TEST(StopStrings, StopSplitAcrossManyPushes) {
  StopStringMatcher m({"STOP"});
  auto r = m.push("Hello S");
  EXPECT_EQ(r.emit, "Hello ");  // "S" could begin "STOP"
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(m.push("T").emit, "");
  EXPECT_EQ(m.push("O").emit, "");
  r = m.push("P and more");
  EXPECT_EQ(r.emit, "");
  EXPECT_TRUE(r.stopped);
  // Nothing after the stop string is ever emitted.
  r = m.push("later text");
  EXPECT_EQ(r.emit, "");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(m.flush(), "");
}

TEST(StopStrings, PartialPrefixReleasedByFlushOrByABreak) {
  StopStringMatcher m({"STOP"});
  EXPECT_EQ(m.push("abc ST").emit, "abc ");
  EXPECT_EQ(m.flush(), "ST");
  EXPECT_FALSE(m.stopped());

  StopStringMatcher broken({"STOP"});
  EXPECT_EQ(broken.push("ST").emit, "");
  EXPECT_EQ(broken.push("X").emit, "STX");
  EXPECT_EQ(broken.push("STO").emit, "");
  EXPECT_EQ(broken.push("STOP").emit, "STO");  // "STOSTOP": the held "STO" was a false start
  EXPECT_TRUE(broken.stopped());
}

TEST(StopStrings, StopAtVeryStart) {
  StopStringMatcher m({"<end>"});
  auto r = m.push("<end>tail");
  EXPECT_EQ(r.emit, "");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(stream({"x"}, {"x"}).text, "");
}

TEST(StopStrings, EarliestOccurrenceWins) {
  EXPECT_EQ(stream({"world", "hello"}, {"say hello world"}).text, "say ");
  EXPECT_EQ(stream({"world", "hello"}, {"say wor", "ld hello"}).text, "say ");
  // "cd" completes first in time, but "abcdef" starts earlier and completes later.
  Streamed s = stream({"cd", "abcdef"}, {"xab", "cd", "ef"});
  EXPECT_EQ(s.text, "x");
  EXPECT_TRUE(s.stopped);
}

TEST(StopStrings, OverlappingStopStrings) {
  StopStringMatcher m({"abcd", "bc"});
  auto r = m.push("abc");
  // "bc" is complete but "abcd" (starting earlier) may still complete: keep waiting.
  EXPECT_EQ(r.emit, "");
  EXPECT_FALSE(r.stopped);
  r = m.push("x");
  EXPECT_EQ(r.emit, "a");  // "abcd" failed, so "bc" decides
  EXPECT_TRUE(r.stopped);

  EXPECT_EQ(stream({"abcd", "bc"}, {"ab", "cd"}).text, "");
  EXPECT_EQ(stream({"abcd", "bc"}, {"abc"}).text, "a");  // flush: "bc" held and complete
  EXPECT_TRUE(stream({"abcd", "bc"}, {"abc"}).stopped);
  // Self-overlapping stop string.
  EXPECT_EQ(stream({"aab"}, {"a", "a", "a", "b"}).text, "a");
}

TEST(StopStrings, Utf8MultiByteText) {
  const std::string text = "你好停止世界";  // 3 bytes per character
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  Streamed s = stream({"停止"}, bytes);
  EXPECT_EQ(s.text, "你好");
  EXPECT_TRUE(s.stopped);

  // Stop string sharing a lead byte with the text: held bytes come back intact.
  StopStringMatcher m({"🛑"});
  std::string out = m.push("ok 🙂").emit;
  out += m.push("\xF0\x9F").emit;   // first half of 🛑 ... or of another emoji
  out += m.push("\x99\x82!").emit;  // ... it was 🙂
  out += m.flush();
  EXPECT_EQ(out, "ok 🙂🙂!");
}

TEST(StopStrings, EmptyStopStringsAreIgnored) {
  EXPECT_EQ(stream({""}, {"abc"}).text, "abc");
  EXPECT_EQ(stream({}, {"abc", "def"}).text, "abcdef");
}

// Property: whatever the chunking, the output is the text cut at the earliest stop string.
TEST(StopStrings, OutputIndependentOfChunking) {
  std::mt19937_64 rng(2024);
  auto random_string = [&](size_t max_len, size_t min_len) {
    const size_t n = min_len + rng() % (max_len - min_len + 1);
    std::string s;
    for (size_t i = 0; i < n; ++i) s += static_cast<char>('a' + rng() % 3);
    return s;
  };
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<std::string> stops;
    for (size_t i = 0, n = 1 + rng() % 3; i < n; ++i) stops.push_back(random_string(4, 1));
    const std::string text = random_string(20, 0);
    size_t cut = std::string::npos;
    for (const auto& st : stops) cut = std::min(cut, text.find(st));
    const std::string expected = text.substr(0, cut);

    std::vector<std::string> chunks;
    for (size_t pos = 0; pos < text.size();) {
      const size_t len = 1 + rng() % 5;
      chunks.push_back(text.substr(pos, len));
      pos += len;
    }
    const Streamed s = stream(stops, chunks);
    ASSERT_EQ(s.text, expected) << "text " << text << " first stop " << stops[0];
    ASSERT_EQ(s.stopped, cut != std::string::npos);
  }
}

}  // namespace
}  // namespace packinfer
