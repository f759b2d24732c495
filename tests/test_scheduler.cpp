// The scheduler core and its two policies against a fake model runner, without a model: KV
// admission under a budget, preemption order, chunking, prefix waits and reuse, cancellation.
//
// The fake runner keeps its own copy of "KV": for every block slot the token written there. The
// logits it returns for a position are a function of the tokens it finds in the sequence's block
// table for every position so far, so a request whose blocks held the wrong tokens (a bad prefix
// reuse, a preempted request recomputed wrongly) would continue differently than it does alone.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "kv/block_hash.h"
#include "kv/kv_cache.h"
#include "runner/step_plan.h"
#include "sched/offline_policy.h"
#include "sched/online_policy.h"
#include "sched/request_factory.h"
#include "sched/scheduler.h"
#include "sched/step_cost_model.h"
#include "support/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace packinfer::test {
namespace {

constexpr int32_t kVocab = 8;  // <unk> <s> </s> a b c d e
constexpr int32_t kBlock = 4;

// A SentencePiece vocabulary of 8 tokens, made in memory.
std::unique_ptr<Tokenizer> tiny_tokenizer() {
  GgufWriter w;
  w.add("tokenizer.ggml.model", gv::str("llama"));
  w.add("tokenizer.ggml.tokens", gv::strings({"<unk>", "<s>", "</s>", "a", "b", "c", "d", "e"}));
  std::vector<gguf::Value> scores, types;
  for (int i = 0; i < kVocab; ++i) {
    scores.push_back(gv::f32(-static_cast<float>(i)));
    types.push_back(gv::i32(i == 0 ? 2 : i < 3 ? 3 : 1));
  }
  w.add("tokenizer.ggml.scores", gv::array(gguf::ValueType::FLOAT32, scores));
  w.add("tokenizer.ggml.token_type", gv::array(gguf::ValueType::INT32, types));
  const std::vector<uint8_t> bytes = w.bytes();
  auto file = gguf::File::parse(bytes);
  return Tokenizer::from_gguf(*file);
}

// The next token after a context: one of a..e, never end-of-generation.
int32_t next_after(std::span<const int32_t> context) {
  return 3 + static_cast<int32_t>(hash_block(kRootBlockHash, context) % 5);
}

// What a request generates alone: the chain of next_after over its own growing context.
std::vector<int32_t> alone(std::vector<int32_t> tokens, int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(next_after(tokens));
    tokens.push_back(out.back());
  }
  return out;
}

class FakeRunner {
 public:
  explicit FakeRunner(int32_t n_blocks) : slots_(static_cast<size_t>(n_blocks) * kBlock, -1) {}

  void run(const StepPlan& plan, StepOutput& out) {
    plans.push_back(plan);
    out.n_vocab = kVocab;
    out.logits.assign(static_cast<size_t>(plan.n_logit_rows() * kVocab), 0.0f);
    int64_t row = 0;
    for (const PlannedSequence& s : plan.sequences) {
      for (size_t i = 0; i < s.tokens.size(); ++i) {
        const int64_t pos = s.pos0 + static_cast<int64_t>(i);
        slot(s, pos) = s.tokens[i];
      }
      for (int32_t r : s.logit_rows) {
        std::vector<int32_t> context;
        for (int64_t p = 0; p <= s.pos0 + r; ++p) context.push_back(slot(s, p));
        out.logits[static_cast<size_t>(row * kVocab + next_after(context))] = 1.0f;
        row++;
      }
    }
    out.seconds = timing ? timing(plan) : 0.001;
    seconds.push_back(out.seconds);
  }

  std::vector<StepPlan> plans;
  std::vector<double> seconds;                    // each plan's reported wall time
  std::function<double(const StepPlan&)> timing;  // what a forward "takes" (default 1 ms)

 private:
  int32_t& slot(const PlannedSequence& s, int64_t pos) {
    const int32_t block = s.blocks.at(static_cast<size_t>(pos / kBlock));
    return slots_.at(static_cast<size_t>(block) * kBlock + pos % kBlock);
  }
  std::vector<int32_t> slots_;
};

ModelConfig small_config() {
  ModelConfig c;
  c.n_layer = 2;
  c.n_embd = 64;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 16;
  c.n_ff = 128;
  c.n_vocab = kVocab;
  return c;
}

struct Outcome {
  ServingResult result;
  bool done = false;
  std::vector<int32_t> streamed;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void make(int32_t n_blocks, std::unique_ptr<SchedulingPolicy> policy, bool prefix_cache = true) {
    kv_ = std::make_unique<KvCache>(KvShape{1, 1, 2}, n_blocks, kBlock);
    runner_ = std::make_unique<FakeRunner>(n_blocks);
    SchedulerOptions so;
    so.prefix_cache = prefix_cache;
    so.pad_token = 2;
    scheduler_ = std::make_unique<Scheduler>(*kv_, std::move(policy), so);
  }

  std::unique_ptr<OnlinePolicy> online(int64_t step_tokens, bool chunked = true,
                                       int32_t max_running = 64) {
    ServingOptions o;
    o.max_step_tokens = step_tokens;
    o.chunked_prefill = chunked;
    o.max_running = max_running;
    return std::make_unique<OnlinePolicy>(config_, 4096, o);
  }

  // Queues a greedy request for `prompt` generating `max_new` tokens.
  uint64_t add(const std::vector<int32_t>& prompt, int max_new) {
    GenerationRequest g;
    g.sampling = SamplingParams::greedy();
    g.sampling.ignore_eos = true;
    PreparedRequest p{prompt, max_new, {}};
    const uint64_t id = next_id_++;
    auto r = make_request(id, *tok_, g, std::move(p), kVocab);
    Outcome* o = &outcomes_[id];
    r->callbacks.on_token = [o](const TokenEvent& ev) {
      if (ev.id >= 0) o->streamed.push_back(ev.id);
      return true;
    };
    r->callbacks.on_done = [o](const ServingResult& res) {
      o->result = res;
      o->done = true;
    };
    scheduler_->add(std::move(r));
    return id;
  }

  // One schedule -> run -> update round; false when nothing ran.
  bool step() {
    StepPlan plan = scheduler_->schedule();
    if (plan.empty()) return false;
    runner_->run(plan, out_);
    scheduler_->update(plan, out_);
    kv_->check_invariants();
    EXPECT_EQ(kv_->pool().n_used() + kv_->pool().n_cached() + kv_->pool().n_free(),
              kv_->pool().n_total());
    return true;
  }

  void run_all(int max_steps = 10000) {
    for (int i = 0; i < max_steps && !scheduler_->idle(); ++i) {
      if (!step()) break;
    }
    ASSERT_TRUE(scheduler_->idle()) << "the scheduler stopped making progress";
  }

  static std::vector<int32_t> prompt(int n, int salt) {
    std::vector<int32_t> p;
    for (int i = 0; i < n; ++i) p.push_back(3 + (i * 7 + salt * 3 + i / 3) % 5);
    return p;
  }

  ModelConfig config_ = small_config();
  std::unique_ptr<Tokenizer> tok_ = tiny_tokenizer();
  // Declared before the scheduler so it outlives it: a scheduler destroyed with requests still
  // running cancels them, and their callbacks write here.
  std::map<uint64_t, Outcome> outcomes_;
  std::unique_ptr<KvCache> kv_;
  std::unique_ptr<FakeRunner> runner_;
  std::unique_ptr<Scheduler> scheduler_;
  StepOutput out_;
  uint64_t next_id_ = 1;
};

TEST_F(SchedulerTest, OnlineOutputsEqualAloneAndEveryBlockReturns) {
  make(64, online(16));
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 6; ++i) {
    prompts.push_back(prompt(5 + 7 * i, i));
    add(prompts.back(), 9);
  }
  run_all();
  for (int i = 0; i < 6; ++i) {
    const Outcome& o = outcomes_.at(static_cast<uint64_t>(i + 1));
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.result.error, "");
    EXPECT_EQ(o.result.generation.finish_reason, "length");
    EXPECT_EQ(o.result.generation.output_ids, alone(prompts[static_cast<size_t>(i)], 9));
    EXPECT_EQ(o.streamed, o.result.generation.output_ids);
  }
  EXPECT_EQ(kv_->pool().n_used(), 0);
  const ServingStats s = scheduler_->stats();
  EXPECT_EQ(s.requests_finished, 6);
  EXPECT_EQ(s.generated_tokens, 6 * 9);
}

// Decodes come first in every step, and prompt chunks fill the rest of the token budget: no
// forward exceeds it, and a long prompt is spread over several steps while others decode.
TEST_F(SchedulerTest, OnlineChunksPromptsBehindDecodes) {
  make(256, online(8));
  const std::vector<int32_t> shorter = prompt(3, 1), longer = prompt(40, 2);
  add(shorter, 20);
  step();  // the short prompt alone
  add(longer, 2);
  int prompt_pieces = 0;
  while (!scheduler_->idle()) {
    ASSERT_TRUE(step());
    const StepPlan& plan = runner_->plans.back();
    EXPECT_LE(plan.n_tokens(), 8);
    bool seen_prompt = false;
    for (const PlannedSequence& s : plan.sequences) {
      if (s.decode) {
        EXPECT_FALSE(seen_prompt) << "decodes come before prompt chunks";
        EXPECT_EQ(s.tokens.size(), 1u);
      } else {
        seen_prompt = true;
        if (s.request_id == 2) prompt_pieces++;
      }
    }
  }
  EXPECT_GE(prompt_pieces, 40 / 8);
  EXPECT_EQ(outcomes_.at(1).result.generation.output_ids, alone(shorter, 20));
  EXPECT_EQ(outcomes_.at(2).result.generation.output_ids, alone(longer, 2));
}

// The cost budget makes chunks late in a long context shorter than early ones.
TEST_F(SchedulerTest, OnlineChunksShrinkAsTheContextGrows) {
  make(1024, online(64));
  add(prompt(3000, 3), 1);
  run_all();
  std::vector<int64_t> sizes;
  for (const StepPlan& p : runner_->plans) sizes.push_back(p.n_tokens());
  ASSERT_GE(sizes.size(), 3u);
  EXPECT_LE(sizes.front(), 64);
  EXPECT_LT(sizes[sizes.size() - 2], sizes.front() / 2)
      << "a chunk at 3000 positions costs more attention per token";
  const OnlinePolicy policy(config_, 4096, ServingOptions{});
  EXPECT_GT(policy.token_cost(2000, 10), policy.token_cost(0, 10));
}

TEST_F(SchedulerTest, OnlineUnchunkedRunsWholePromptsInPromptOnlySteps) {
  make(256, online(8, /*chunked=*/false));
  add(prompt(3, 1), 6);
  step();
  add(prompt(30, 2), 1);
  run_all();
  for (const StepPlan& p : runner_->plans) {
    EXPECT_LE(p.n_tokens(), 8);
    bool decode = false, prefill = false;
    for (const PlannedSequence& s : p.sequences) (s.decode ? decode : prefill) = true;
    EXPECT_FALSE(decode && prefill) << "a step is prompts only or decodes only";
  }
  EXPECT_EQ(outcomes_.at(2).result.generation.output_ids, alone(prompt(30, 2), 1));
}

// KV for 12 blocks (48 positions): three requests of 10-token prompts generating 30 each cannot
// all finish together. The newest running request is preempted first, recomputed later, and
// every output is still what the request generates alone.
TEST_F(SchedulerTest, OnlinePreemptsTheNewestAndRecomputesExactly) {
  make(12, online(64));
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 3; ++i) {
    prompts.push_back(prompt(10, 10 + i));
    add(prompts.back(), 30);
  }
  run_all();
  for (int i = 0; i < 3; ++i) {
    const Outcome& o = outcomes_.at(static_cast<uint64_t>(i + 1));
    EXPECT_EQ(o.result.error, "");
    EXPECT_EQ(o.result.generation.output_ids, alone(prompts[static_cast<size_t>(i)], 30));
    EXPECT_EQ(o.streamed, o.result.generation.output_ids) << "no token streamed twice";
  }
  EXPECT_EQ(outcomes_.at(1).result.preemptions, 0) << "the oldest request always progresses";
  EXPECT_GT(outcomes_.at(3).result.preemptions, 0) << "the newest is preempted first";
  EXPECT_GE(outcomes_.at(3).result.preemptions, outcomes_.at(2).result.preemptions);
  EXPECT_GT(scheduler_->stats().preemptions, 0);
  EXPECT_EQ(kv_->pool().n_used(), 0);
}

// Two requests share 12 prompt tokens (3 blocks). Submitted together, the second waits while
// the first computes them, then takes the cached blocks and computes only its own tail.
TEST_F(SchedulerTest, SharedPrefixIsComputedOnceAndReused) {
  make(64, online(64));
  std::vector<int32_t> a = prompt(12, 5), b = a;
  a.push_back(3);
  a.push_back(4);
  b.push_back(5);
  b.push_back(6);
  b.push_back(7);
  add(a, 4);
  add(b, 4);
  ASSERT_TRUE(step());
  ASSERT_EQ(runner_->plans[0].sequences.size(), 1u) << "b waits for the shared blocks";
  run_all();
  EXPECT_EQ(outcomes_.at(1).result.generation.output_ids, alone(a, 4));
  EXPECT_EQ(outcomes_.at(2).result.generation.output_ids, alone(b, 4));
  EXPECT_EQ(outcomes_.at(2).result.generation.cached_tokens, 12);
  int64_t b_prompt = 0;
  for (const StepPlan& p : runner_->plans) {
    for (const PlannedSequence& s : p.sequences) {
      if (s.request_id == 2 && !s.decode) b_prompt += s.n_real();
    }
  }
  EXPECT_EQ(b_prompt, 3) << "only b's own tokens are computed";
  EXPECT_EQ(scheduler_->stats().cached_prompt_tokens, 12);
}

TEST_F(SchedulerTest, WithoutPrefixCacheNothingIsShared) {
  make(64, online(64), /*prefix_cache=*/false);
  std::vector<int32_t> a = prompt(13, 5), b = prompt(13, 5);
  add(a, 2);
  add(b, 2);
  run_all();
  EXPECT_EQ(outcomes_.at(2).result.generation.cached_tokens, 0);
  EXPECT_EQ(outcomes_.at(2).result.generation.output_ids, alone(b, 2));
  EXPECT_EQ(kv_->pool().n_cached(), 0);
}

TEST_F(SchedulerTest, CancelQueuedAndRunningRequests) {
  make(64, online(8, true, /*max_running=*/1));
  const uint64_t running = add(prompt(5, 1), 50);
  const uint64_t queued = add(prompt(5, 2), 50);
  step();
  step();
  scheduler_->cancel(queued);
  scheduler_->cancel(running);
  EXPECT_FALSE(step()) << "nothing left to run";
  EXPECT_TRUE(scheduler_->idle());
  for (uint64_t id : {running, queued}) {
    ASSERT_TRUE(outcomes_.at(id).done);
    EXPECT_EQ(outcomes_.at(id).result.generation.finish_reason, "cancelled");
  }
  EXPECT_TRUE(outcomes_.at(queued).result.generation.output_ids.empty());
  EXPECT_FALSE(outcomes_.at(running).result.generation.output_ids.empty());
  EXPECT_EQ(kv_->pool().n_used(), 0);
  EXPECT_EQ(scheduler_->stats().requests_cancelled, 2);
}

TEST_F(SchedulerTest, ACallbackReturningFalseCancelsAtTheNextStep) {
  make(64, online(8));
  GenerationRequest g;
  g.sampling = SamplingParams::greedy();
  g.sampling.ignore_eos = true;
  auto r = make_request(7, *tok_, g, PreparedRequest{prompt(4, 3), 100, {}}, kVocab);
  int tokens = 0;
  ServingResult result;
  r->callbacks.on_token = [&](const TokenEvent&) { return ++tokens < 3; };
  r->callbacks.on_done = [&](const ServingResult& res) { result = res; };
  scheduler_->add(std::move(r));
  run_all();
  EXPECT_EQ(tokens, 3);
  EXPECT_EQ(result.generation.finish_reason, "cancelled");
  EXPECT_EQ(result.generation.output_ids.size(), 3u);
}

OfflinePolicyOptions offline_options(PrefillMode mode, int64_t budget, int32_t max_seqs = 64) {
  OfflinePolicyOptions o;
  o.mode = mode;
  o.max_batch_tokens = budget;
  o.max_seqs = max_seqs;
  return o;
}

// Offline admission promises every request its prompt and whole output: with 10 blocks (40
// positions) and requests needing 20 positions, two run at a time; a request needing more than
// the whole cache fails with a message, and the others still complete.
TEST_F(SchedulerTest, OfflineAdmitsUnderTheKvPromise) {
  make(10, std::make_unique<OfflinePolicy>(offline_options(PrefillMode::Packed, 64)));
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 4; ++i) {
    prompts.push_back(prompt(8, 20 + i));
    add(prompts.back(), 12);
  }
  add(prompt(30, 9), 20);  // 50 positions > 40
  run_all();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(outcomes_.at(static_cast<uint64_t>(i + 1)).result.generation.output_ids,
              alone(prompts[static_cast<size_t>(i)], 12));
  }
  EXPECT_NE(outcomes_.at(5).result.error.find("needs 50 KV positions"), std::string::npos)
      << outcomes_.at(5).result.error;
  size_t most = 0;
  for (const StepPlan& p : runner_->plans) most = std::max(most, p.sequences.size());
  EXPECT_EQ(most, 2u) << "the KV promise allows two requests at a time";
  EXPECT_EQ(scheduler_->stats().preemptions, 0);
}

// A wave's prompts are packed into forwards of at most the token budget; padded mode pads each
// forward to its longest prompt, and both give the same outputs as single.
TEST_F(SchedulerTest, OfflinePackedPaddedAndSingleGiveTheSameOutputs) {
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 5; ++i) prompts.push_back(prompt(3 + 5 * i, 30 + i));
  std::map<std::string, std::vector<std::vector<int32_t>>> outputs;
  for (PrefillMode mode : {PrefillMode::Packed, PrefillMode::Padded, PrefillMode::Single}) {
    outcomes_.clear();
    next_id_ = 1;
    make(128, std::make_unique<OfflinePolicy>(offline_options(mode, 16)), false);
    for (const auto& p : prompts) add(p, 3);
    run_all();
    int64_t pads = 0;
    for (const StepPlan& p : runner_->plans) {
      bool prefill = false;
      for (const PlannedSequence& s : p.sequences) {
        pads += s.n_padding;
        prefill |= !s.decode;
      }
      if (prefill && mode == PrefillMode::Packed) {
        EXPECT_LE(p.n_tokens(), 16);
      }
      if (mode == PrefillMode::Single) {
        EXPECT_EQ(p.sequences.size(), 1u);
      }
    }
    EXPECT_EQ(pads > 0, mode == PrefillMode::Padded) << prefill_mode_name(mode);
    for (int i = 0; i < 5; ++i) {
      outputs[prefill_mode_name(mode)].push_back(
          outcomes_.at(static_cast<uint64_t>(i + 1)).result.generation.output_ids);
      EXPECT_EQ(outputs[prefill_mode_name(mode)].back(), alone(prompts[static_cast<size_t>(i)], 3))
          << prefill_mode_name(mode) << " prompt " << i;
    }
  }
}

// Offline prefix reuse: a request sharing uncomputed blocks with one in the same wave waits one
// wave, then reuses them.
TEST_F(SchedulerTest, OfflineSharedPrefixWaitsOneWave) {
  make(64, std::make_unique<OfflinePolicy>(offline_options(PrefillMode::Packed, 64)));
  std::vector<int32_t> a = prompt(16, 4), b = a;
  a.push_back(3);
  b.push_back(4);
  b.push_back(5);
  add(a, 2);
  add(b, 2);
  run_all();
  EXPECT_EQ(runner_->plans[0].sequences.size(), 1u);
  EXPECT_EQ(outcomes_.at(2).result.generation.cached_tokens, 16);
  EXPECT_EQ(outcomes_.at(2).result.generation.output_ids, alone(b, 2));
}

// Prompt scoring: every prompt position's logits are handed out, in order, and the request ends
// after its prompt.
TEST_F(SchedulerTest, PromptLogitsCoverEveryPosition) {
  make(64, std::make_unique<OfflinePolicy>(offline_options(PrefillMode::Single, 4)), false);
  const std::vector<int32_t> p = prompt(11, 6);
  GenerationRequest g;
  g.sampling = SamplingParams::greedy();
  auto r = make_request(1, *tok_, g, PreparedRequest{p, 0, {}}, kVocab);
  std::vector<int64_t> positions;
  r->on_prompt_logits = [&](int64_t pos, std::span<const float> logits) {
    positions.push_back(pos);
    std::vector<int32_t> context(p.begin(), p.begin() + pos + 1);
    EXPECT_EQ(logits[static_cast<size_t>(next_after(context))], 1.0f) << pos;
  };
  scheduler_->add(std::move(r));
  run_all();
  ASSERT_EQ(positions.size(), p.size());
  for (size_t i = 0; i < positions.size(); ++i) EXPECT_EQ(positions[i], static_cast<int64_t>(i));
  EXPECT_EQ(runner_->plans.size(), 3u) << "11 tokens in chunks of 4";
}

// --- the latency-aware step budget
// ----------------------------------------------------------------

class StepBudgetTest : public SchedulerTest {
 protected:
  // An online policy with the automatic budget (or a fixed one), kept visible for its cost model.
  void make_auto(double itl_target_ms, int64_t fixed_step_tokens = 0) {
    // SmolLM2-135M's shape: a prompt token late in a 3,000-token context costs ~2.5 units (the
    // tiny default config's attention would dwarf its matmuls and starve the prompt).
    config_.n_layer = 30;
    config_.n_embd = 576;
    config_.n_head = 9;
    config_.n_head_kv = 3;
    config_.head_dim = 64;
    config_.n_ff = 1536;
    ServingOptions o;
    o.itl_target_ms = itl_target_ms;
    o.max_step_tokens = fixed_step_tokens;
    auto policy = std::make_unique<OnlinePolicy>(config_, 4096, o);
    policy_ = policy.get();
    make(2048, std::move(policy));
    // A forward takes fixed_ + per_unit_ per unit of the policy's own cost: the model it learns
    // is then exact, and a budget that fits the target gives steps of the target's length.
    runner_->timing = [this](const StepPlan& plan) {
      double cost = 0;
      for (const PlannedSequence& s : plan.sequences)
        cost += policy_->token_cost(s.pos0, s.n_real());
      return fixed_ + per_unit_ * cost;
    };
  }

  // Four requests decode; then a long prompt arrives. Returns the wall times of the steps that
  // mixed decodes with the long prompt's chunks, and (in `costs`) those chunks' costs.
  std::vector<double> long_prompt_during_decodes(std::vector<double>* costs = nullptr) {
    for (int i = 0; i < 4; ++i) add(prompt(4, i), 100000);
    for (int i = 0; i < 20; ++i) step();  // decode-only steps: the fixed part is measured
    // A new long prompt each time: one seen before would come from the prefix cache.
    const uint64_t long_id = add(prompt(3000, 7 + calls_++), 1);
    std::vector<double> mixed;
    while (!outcomes_[long_id].done) {
      const size_t before = runner_->plans.size();
      EXPECT_TRUE(step());
      if (runner_->plans.size() == before) break;
      const StepPlan& plan = runner_->plans.back();
      bool decodes = false;
      double chunk = 0;
      for (const PlannedSequence& s : plan.sequences) {
        if (s.decode) decodes = true;
        if (s.request_id == long_id && !s.decode) chunk += policy_->token_cost(s.pos0, s.n_real());
      }
      if (decodes && chunk > 0) {
        mixed.push_back(runner_->seconds.back());
        if (costs != nullptr) costs->push_back(chunk);
      }
    }
    for (uint64_t id = 1; id < long_id; ++id) scheduler_->cancel(id);
    step();
    return mixed;
  }

  static double mean_of_last(const std::vector<double>& v, size_t n) {
    n = std::min(n, v.size());
    double sum = 0;
    for (size_t i = v.size() - n; i < v.size(); ++i) sum += v[i];
    return n == 0 ? 0 : sum / static_cast<double>(n);
  }

  OnlinePolicy* policy_ = nullptr;
  double fixed_ = 0.010, per_unit_ = 0.0005;
  int calls_ = 0;
};

// With a 50 ms target the chunks settle where a step takes 50 ms; when steps become 4x slower per
// unit the budget shrinks to match, and when they become fast again it grows back.
TEST_F(StepBudgetTest, TheBudgetShrinksWhenStepsAreSlowAndGrowsWhenFast) {
  make_auto(50);
  std::vector<double> fast_costs, slow_costs, fast_again_costs;
  std::vector<double> fast = long_prompt_during_decodes(&fast_costs);
  ASSERT_GT(fast.size(), 10u);
  EXPECT_NEAR(mean_of_last(fast, 5), 0.050, 0.006) << "steps settle at the target";
  EXPECT_NEAR(policy_->cost_model().seconds_per_unit(), per_unit_, per_unit_ * 0.2);

  per_unit_ *= 4;  // the machine got slower (or busier)
  std::vector<double> slow = long_prompt_during_decodes(&slow_costs);
  ASSERT_GT(slow.size(), 10u);
  EXPECT_NEAR(mean_of_last(slow, 5), 0.050, 0.006);
  EXPECT_LT(mean_of_last(slow_costs, 5), mean_of_last(fast_costs, 5) / 3)
      << "4x slower units: about a quarter of the cost per step";

  per_unit_ /= 4;
  std::vector<double> fast_again = long_prompt_during_decodes(&fast_again_costs);
  EXPECT_NEAR(mean_of_last(fast_again, 5), 0.050, 0.006);
  EXPECT_GT(mean_of_last(fast_again_costs, 5), mean_of_last(slow_costs, 5) * 3) << "it grows back";
}

// Without a target the automatic one is kAutoItlFactor times a decode-only step.
TEST_F(StepBudgetTest, TheDefaultTargetIsAMultipleOfADecodeStep) {
  make_auto(0);
  std::vector<double> mixed = long_prompt_during_decodes();
  ASSERT_GT(mixed.size(), 10u);
  const double decode_step = policy_->cost_model().decode_step_seconds();
  EXPECT_NEAR(decode_step, fixed_ + 4 * per_unit_, 1e-3);
  EXPECT_NEAR(mean_of_last(mixed, 5), OnlinePolicy::kAutoItlFactor * decode_step,
              0.15 * OnlinePolicy::kAutoItlFactor * decode_step);
}

// A slow decode-only step that is the only one of its batch size when a long prompt arrives
// (first touches of fresh KV blocks, a stall of the VM) must not stretch the automatic target:
// every later step mixes, so no decode-only step of that size would ever correct it.
TEST_F(StepBudgetTest, ALoneSlowDecodeStepDoesNotStretchTheDefaultTarget) {
  make_auto(0);
  add(prompt(40, 0), 100000);
  for (int i = 0; i < 10; ++i) step();  // one request: its prompt calibrates, then it decodes
  for (int i = 1; i < 4; ++i) add(prompt(4, 100 + i), 100000);
  step();  // the newcomers' prompts beside the decode
  const auto normal = runner_->timing;
  runner_->timing = [&](const StepPlan& plan) { return 4 * normal(plan); };
  step();  // the first decode-only step of four decodes, four times too slow
  ASSERT_EQ(runner_->plans.back().n_tokens(), 4);
  runner_->timing = normal;
  const uint64_t long_id = add(prompt(3000, 9), 1);
  std::vector<double> mixed;
  for (int i = 0; i < 20 && !outcomes_[long_id].done; ++i) {
    ASSERT_TRUE(step());
    mixed.push_back(runner_->seconds.back());
  }
  const double decode_step = fixed_ + 4 * per_unit_;  // four decodes at short contexts
  ASSERT_GE(mixed.size(), 5u);
  EXPECT_LT(mean_of_last(mixed, 5), 1.6 * OnlinePolicy::kAutoItlFactor * decode_step)
      << "the target follows the cost model, not the lone slow step ("
      << 4 * OnlinePolicy::kAutoItlFactor * decode_step * 1000 << " ms)";
  for (uint64_t id = 1; id < long_id; ++id) scheduler_->cancel(id);
}

// An explicit --max-step-tokens wins over the measurements, fast or slow.
TEST_F(StepBudgetTest, AFixedMaxStepTokensOverridesTheMeasuredBudget) {
  make_auto(50, /*fixed_step_tokens=*/24);
  per_unit_ = 0.01;  // a 24-token step takes 250 ms, far over the target: still 24
  long_prompt_during_decodes();
  per_unit_ = 0.00001;  // and far under it: still 24
  long_prompt_during_decodes();
  for (const StepPlan& p : runner_->plans) EXPECT_LE(p.n_tokens(), 24);
  int64_t most = 0;
  for (const StepPlan& p : runner_->plans) most = std::max(most, p.n_tokens());
  EXPECT_GE(most, 22) << "the budget counts cost: decodes after a few tokens cost a bit more";
}

// While nothing decodes there is no latency to protect: a lone prompt runs in 512-token steps,
// and the budget never lets decodes starve a prompt entirely.
TEST_F(StepBudgetTest, PromptsAloneTakeFullStepsAndAlwaysProgress) {
  make_auto(1);  // a target no step can meet
  const uint64_t id = add(prompt(2000, 3), 1);
  ASSERT_TRUE(step());
  EXPECT_EQ(runner_->plans[0].n_tokens(), OnlinePolicy::kDefaultStepTokens);
  run_all();
  EXPECT_TRUE(outcomes_[id].done);
  std::vector<double> costs;
  long_prompt_during_decodes(&costs);
  ASSERT_FALSE(costs.empty());
  for (double c : costs) EXPECT_GE(c, OnlinePolicy::kMinPromptCost - 8.0);
}

// A prompt alone is cut like an unchunked one: 512 tokens per step however long its context,
// not 512 units of attention-weighted cost (which would give late chunks of ~200 tokens).
TEST_F(StepBudgetTest, PromptsAloneTakeTokenSizedStepsAtLongContext) {
  make_auto(0);
  const uint64_t id = add(prompt(3000, 5), 1);
  run_all();
  EXPECT_TRUE(outcomes_[id].done);
  ASSERT_EQ(runner_->plans.size(), 6u) << "3000 tokens in steps of 512";
  for (size_t i = 0; i + 1 < runner_->plans.size(); ++i)
    EXPECT_EQ(runner_->plans[i].n_tokens(), OnlinePolicy::kDefaultStepTokens) << "step " << i;
  EXPECT_GT(policy_->token_cost(2560, 512), 600.0)
      << "the last full step costs more than 512 units";
}

// A lone slow step (a stall of the machine) teaches the cost model nothing; a slowdown that
// persists is learned; a slow first decode step is forgotten within a few steps.
TEST(StepCostModelTest, SpikesAreSkippedAndPersistentChangesLearned) {
  StepCostModel m;
  for (int i = 0; i < 20; ++i) m.observe(8, false, 0.012);
  for (int i = 0; i < 20; ++i) m.observe(40, true, 0.012 + 40 * 0.001);
  const double unit = m.seconds_per_unit(), step = m.decode_step_seconds();
  m.observe(40, true, 0.150);  // a 52 ms step stalled to 150 ms
  m.observe(8, false, 0.110);
  EXPECT_DOUBLE_EQ(m.seconds_per_unit(), unit);
  EXPECT_DOUBLE_EQ(m.decode_step_seconds(), step);
  for (int i = 0; i < 20; ++i) m.observe(40, true, 0.012 + 40 * 0.004);
  EXPECT_NEAR(m.seconds_per_unit(), 0.004, 0.0005) << "4x slower for good: learned";

  StepCostModel mixed_sizes;  // one decode streams the weights; eight compute
  for (int i = 0; i < 10; ++i) mixed_sizes.observe(1, false, 0.008);
  for (int i = 0; i < 10; ++i) mixed_sizes.observe(8, false, 0.012);
  EXPECT_NEAR(mixed_sizes.decode_step_seconds(8), 0.012, 1e-9);
  EXPECT_NEAR(mixed_sizes.decode_step_seconds(1), 0.008, 1e-9);
  EXPECT_NEAR(mixed_sizes.decode_step_seconds(), 0.012, 1e-9) << "the latest batch size";
  EXPECT_NEAR(mixed_sizes.decode_step_seconds(100), 0.012, 1e-9) << "the nearest measured";

  StepCostModel cold;
  cold.observe(8, false, 0.110);  // the first step after start-up: page faults
  for (int i = 0; i < 6; ++i) cold.observe(8, false, 0.012);
  EXPECT_LT(cold.decode_step_seconds(), 0.015);
}

// Requests left waiting step after step mean the machine is not keeping up: small latency-bound
// steps would lower its capacity, so after kBacklogSteps such steps the budget is a full step.
TEST_F(StepBudgetTest, AQueueThatPersistsGetsFullSteps) {
  make_auto(1);  // a target no step can meet: prompts get kMinPromptCost per step
  for (int i = 0; i < 4; ++i) add(prompt(4, i), 100000);
  for (int i = 0; i < 20; ++i) step();  // four requests decode
  for (int i = 0; i < 8; ++i) add(prompt(200, 100 + i), 1);
  std::vector<int64_t> sizes;
  for (int i = 0; i <= OnlinePolicy::kBacklogSteps; ++i) {
    ASSERT_TRUE(step());
    sizes.push_back(runner_->plans.back().n_tokens());
  }
  for (int i = 0; i < OnlinePolicy::kBacklogSteps; ++i)
    EXPECT_LE(sizes[static_cast<size_t>(i)], 4 + OnlinePolicy::kMinPromptCost + 1)
        << "a queue only a few steps old is not a backlog (step " << i << ")";
  EXPECT_GE(sizes.back(), OnlinePolicy::kDefaultStepTokens - 64) << "then a full step";
}

// A forward that fails ends its requests with the error; the scheduler goes on with the rest.
TEST_F(SchedulerTest, AFailedForwardFailsOnlyItsRequests) {
  make(64, online(8, true, 1));
  add(prompt(4, 1), 3);
  add(prompt(4, 2), 3);
  StepPlan plan = scheduler_->schedule();
  ASSERT_EQ(plan.sequences.size(), 1u);
  scheduler_->fail(plan, "internal error: boom");
  run_all();
  EXPECT_EQ(outcomes_.at(1).result.error, "internal error: boom");
  EXPECT_EQ(outcomes_.at(2).result.error, "");
  EXPECT_EQ(outcomes_.at(2).result.generation.output_ids, alone(prompt(4, 2), 3));
  EXPECT_EQ(scheduler_->stats().requests_failed, 1);
  EXPECT_EQ(kv_->pool().n_used(), 0);
}

}  // namespace
}  // namespace packinfer::test
