// Many prompts at once: packed, padded and single prefill give every prompt the same logits at
// every position and the same greedy continuation; attention never crosses prompts and
// positions restart at 0 for each; continuous batching admits and retires requests correctly.
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>

#include "batch/token_batch.h"
#include "kernels/isa_select.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "packinfer/batch.h"
#include "packinfer/engine.h"
#include "support/test_model.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

std::string stories() { return shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }

std::vector<std::vector<int32_t>> golden_prompts(const std::string& model) {
  std::vector<std::vector<int32_t>> out;
  for (const std::string& c : golden_cases(model)) {
    out.push_back(golden_case(model, c).at("prompt_ids").get<std::vector<int32_t>>());
  }
  return out;
}

double max_rel_diff(std::span<const float> a, std::span<const float> b) {
  double d = 0, scale = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return d / scale;
}

// MOM on the panel GEMM: the MLP of F16 weights runs 64 tokens at a time (its gate and up hold
// 64 rows, not the step's 300, in the buffer the attention's q, k and v held before), and every logit has the same bits as with
// mini-sequences of one token, because the panel GEMM's sums do not depend on the row count.
TEST(Batch, PanelMlpMiniSequencesHold64RowsAndKeepTheLogits) {
  TestModel big(golden_model_path("stories260K-f16"));
  if (!runs_on_panels(active_kernels(), big.model().weights().layers[0].w_gate)) {
    GTEST_SKIP() << "level " << isa_name(active_isa())
                 << " has no F16 panel GEMM tile (needs AVX-512)";
  }
  TestModel one(golden_model_path("stories260K-f16"));
  one.transformer().set_mlp_chunk(1);
  std::vector<int32_t> ids(300);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(1 + (i * 37) % 500);
  const auto a = big.all_logits(ids, 300);
  const auto b = one.all_logits(ids, 300);
  ASSERT_EQ(a.size(), b.size());
  for (size_t pos = 0; pos < a.size(); ++pos) ASSERT_EQ(a[pos], b[pos]) << "position " << pos;
  const ModelConfig& c = big.config();
  const int64_t attention = 300 * (int64_t{std::max(c.q_dim(), c.n_embd)} + 2 * c.kv_dim());
  for (const auto& [name, bytes] : big.transformer().scratch_buffers()) {
    if (name.rfind("queries q", 0) == 0) {
      EXPECT_EQ(bytes, std::max(attention, 2 * 64 * int64_t{c.n_ff}) * 4) << name;
    }
  }
}

// Transformer level: the padded layout (each prompt extended with pad tokens to the longest,
// all in one forward) gives every real position the logits of the prompt run alone.
TEST(Batch, PaddedForwardEqualsAloneAtEveryPosition) {
  for (const std::string model : {"stories260K-f32", "tiny-f32"}) {
    TestModel runner(golden_model_path(model));
    auto prompts = golden_prompts(model);
    // Logits of every padded slot are kept: limit the 49152-token vocabulary model to its
    // prompts of at most 200 tokens (the 512-token stories260K vocabulary takes them all).
    std::erase_if(prompts,
                  [&](const auto& p) { return runner.config().n_vocab > 1000 && p.size() > 200; });
    size_t longest = 0;
    for (auto& p : prompts) longest = std::max(longest, p.size());
    std::vector<std::vector<int32_t>> padded = prompts;
    for (auto& p : padded) p.resize(longest, runner.model().tokenizer().eos_id());
    const std::vector<float> logits = runner.packed_logits(padded);
    const size_t vocab = static_cast<size_t>(runner.config().n_vocab);
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto alone = runner.all_logits(prompts[i]);
      for (size_t pos = 0; pos < prompts[i].size(); ++pos) {
        std::span<const float> row(logits.data() + (i * longest + pos) * vocab, vocab);
        ASSERT_LE(max_rel_diff(row, alone[pos]), 1e-5)
            << model << " prompt " << i << " pos " << pos;
      }
    }
  }
}

// A constructed case that changes if a token attended across prompt boundaries or if positions
// did not restart: the same prompt twice in one packed batch must give two identical copies of
// the logits it has alone, while the same tokens as ONE sequence (what leaking attention and
// continued positions amount to) give different logits for the second copy.
TEST(Batch, PackedMaskAndPositionsAreRight) {
  TestModel runner(stories());
  std::vector<int32_t> p =
      runner.model().tokenizer().encode("Once upon a time there was a cat", true, false);
  auto alone = runner.all_logits(p);
  // Positions restart at 0 for each prompt of a token batch.
  TokenBatch batch;
  const std::vector<int32_t> blocks(64, 0);
  batch.add(p, 0, blocks, {});
  batch.add(p, 0, blocks, {});
  EXPECT_EQ(batch.positions[p.size()], 0) << "positions restart at 0 for each prompt";
  const std::vector<float> logits = runner.packed_logits({p, p});
  const size_t vocab = static_cast<size_t>(runner.config().n_vocab);
  for (size_t copy = 0; copy < 2; ++copy) {
    for (size_t pos = 0; pos < p.size(); ++pos) {
      std::span<const float> row(logits.data() + (copy * p.size() + pos) * vocab, vocab);
      ASSERT_LE(max_rel_diff(row, alone[pos]), 1e-5) << "copy " << copy << " pos " << pos;
    }
  }
  std::vector<int32_t> joined = p;
  joined.insert(joined.end(), p.begin(), p.end());
  auto leaked = runner.all_logits(joined);
  EXPECT_GT(max_rel_diff(leaked[2 * p.size() - 1], alone[p.size() - 1]), 1e-3)
      << "the check must be able to see a leak";
}

std::vector<GenerationRequest> greedy_requests(const std::vector<std::vector<int32_t>>& prompts,
                                               int32_t max_tokens) {
  std::vector<GenerationRequest> reqs;
  for (const auto& p : prompts) {
    GenerationRequest r;
    r.prompt_ids = p;
    r.sampling = SamplingParams::greedy();
    r.sampling.max_tokens = max_tokens;
    r.sampling.ignore_eos = true;
    reqs.push_back(r);
  }
  return reqs;
}

// The engine's batch API: every mode gives each request the greedy continuation it gets alone.
TEST(Batch, ModesGiveSameGreedyOutputsAsAlone) {
  for (const std::string model : {"stories260K-f32", "tiny-f32"}) {
    EngineOptions eo;
    eo.model_path = golden_model_path(model);
    eo.n_threads = 2;
    eo.max_batch_tokens = 256;  // forces chunking of the long prompts
    eo.n_ctx = 2048;
    Engine engine(eo);
    auto reqs = greedy_requests(golden_prompts(model), 12);
    std::vector<std::vector<int32_t>> alone;
    for (const auto& r : reqs) alone.push_back(engine.generate(r).output_ids);
    for (PrefillMode mode : {PrefillMode::Packed, PrefillMode::Padded, PrefillMode::Single}) {
      BatchOptions bo;
      bo.mode = mode;
      BatchStats stats;
      size_t done = 0;
      auto results =
          engine.generate_batch(reqs, bo, &stats, [&](size_t, const BatchItemResult&) { ++done; });
      ASSERT_EQ(done, reqs.size());
      for (size_t i = 0; i < reqs.size(); ++i) {
        ASSERT_TRUE(results[i].error.empty()) << results[i].error;
        EXPECT_EQ(results[i].result.output_ids, alone[i])
            << model << " " << prefill_mode_name(mode) << " request " << i;
        EXPECT_EQ(results[i].result.prompt_ids, reqs[i].prompt_ids);
      }
      EXPECT_GT(stats.n_forwards, 0);
      EXPECT_GT(stats.all_first_tokens_seconds, 0);
      if (mode == PrefillMode::Padded) {
        EXPECT_GT(stats.padding_tokens, 0);
      } else {
        EXPECT_EQ(stats.padding_tokens, 0);
      }
    }
  }
}

// Continuous batching: with 2 sequence slots the 8 requests are admitted as others finish, and
// outputs do not depend on what else was in the batch.
TEST(Batch, ContinuousBatchingAdmitsAsRequestsFinish) {
  EngineOptions eo;
  eo.model_path = stories();
  eo.n_threads = 2;
  Engine engine(eo);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 8; ++i)
    prompts.push_back(
        engine.tokenize("Once upon a time, " + std::string(static_cast<size_t>(i), 'a')));
  auto reqs = greedy_requests(prompts, 0);
  for (size_t i = 0; i < reqs.size(); ++i)
    reqs[i].sampling.max_tokens = 3 + static_cast<int32_t>(i % 4) * 5;
  BatchOptions wide, narrow;
  narrow.max_seqs = 2;
  auto a = engine.generate_batch(reqs, wide);
  std::vector<size_t> order;
  auto b = engine.generate_batch(reqs, narrow, nullptr,
                                 [&](size_t i, const BatchItemResult&) { order.push_back(i); });
  ASSERT_EQ(order.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(a[i].result.output_ids, b[i].result.output_ids);
    EXPECT_EQ(static_cast<int32_t>(b[i].result.output_ids.size()), reqs[i].sampling.max_tokens);
  }
}

TEST(Batch, BadRequestsGetErrorsOthersSucceed) {
  EngineOptions eo;
  eo.model_path = stories();
  eo.n_ctx = 64;
  Engine engine(eo);
  std::vector<GenerationRequest> reqs(4);
  reqs[0].prompt = "Once upon a time";
  reqs[1].prompt = "";
  reqs[1].add_special = false;  // no BOS: nothing at all to prefill
  reqs[2].prompt = std::string(2000, 'x') + " once upon a time";
  reqs[3].prompt = "The cat";
  reqs[3].sampling.temperature = -1;
  for (auto& r : reqs) r.sampling.max_tokens = 4;
  auto res = engine.generate_batch(reqs, BatchOptions{});
  EXPECT_TRUE(res[0].error.empty()) << res[0].error;
  EXPECT_EQ(res[0].result.output_ids.size(), 4u);
  EXPECT_NE(res[1].error.find("empty"), std::string::npos) << res[1].error;
  EXPECT_NE(res[2].error.find("context size is 64"), std::string::npos) << res[2].error;
  EXPECT_NE(res[3].error.find("temperature"), std::string::npos) << res[3].error;
}

// Requests sharing a long prompt prefix: with the prefix cache, the shared blocks are computed
// once (the later requests wait one wave for them) and reused; outputs are identical.
TEST(Batch, SharedPrefixIsComputedOnceAndReused) {
  EngineOptions eo;
  eo.model_path = stories();
  eo.n_threads = 2;
  Engine engine(eo);
  const std::string system = story_opening();
  std::vector<GenerationRequest> reqs;
  for (const std::string& prompt : prompts_sharing_the_opening(6)) {
    GenerationRequest r;
    r.prompt = prompt;
    r.sampling = SamplingParams::greedy();
    r.sampling.max_tokens = 8;
    reqs.push_back(r);
  }
  const int64_t shared = engine.tokenize(system).size();
  ASSERT_GE(shared, 32);
  BatchOptions on, off;
  off.prefix_cache = false;
  BatchStats s_on, s_off;
  auto a = engine.generate_batch(reqs, on, &s_on);
  auto b = engine.generate_batch(reqs, off, &s_off);
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(a[i].error.empty()) << a[i].error;
    EXPECT_EQ(a[i].result.output_ids, b[i].result.output_ids) << "request " << i;
    EXPECT_EQ(b[i].result.cached_tokens, 0);
  }
  const int64_t reusable = (shared - 1) / 16 * 16;  // whole blocks of the shared part
  EXPECT_GE(s_on.cached_prompt_tokens, 5 * reusable);
  EXPECT_EQ(s_off.cached_prompt_tokens, 0);
  EXPECT_EQ(s_on.prompt_tokens + s_on.cached_prompt_tokens, s_off.prompt_tokens);
}

}  // namespace
}  // namespace packinfer::test
