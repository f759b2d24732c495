// Online serving (ServingEngine / StepScheduler) on the real stories260K model: greedy outputs
// are the same as one request alone with and without prefix-cache hits, with and without
// chunked prefill, and for requests preempted and recomputed; seeded sampling too (a request's
// RNG state survives preemption); cancellation frees everything; KV accounting stays exact.
// Exact equality under every batch shape is what EngineOptions::batch_invariant promises, so the
// engine runs with it: by default a row's last bits depend on its batch (GEMM vs dot-product
// tiles), and a seeded sample that falls within rounding of a boundary can differ.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>

#include "packinfer/engine.h"
#include "packinfer/serving.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

std::string stories() { return shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }

EngineOptions stories_options(int64_t n_ctx = 0) {
  EngineOptions eo;
  eo.model_path = stories();
  eo.n_threads = 2;
  eo.n_ctx = n_ctx;
  eo.batch_invariant = true;
  return eo;
}

const char* kPrompts[] = {
    "Once upon a time, there was a little girl named Lily. She loved to play outside.",
    "Once upon a time, there was a little girl named Lily. She had a red ball.",
    "Tom and his dog went to the park.",
    "The sun was hot and the birds sang in the big green tree by the house.",
    "Once upon a time",
    "One day, a little bird",
};

GenerationRequest greedy(const std::string& prompt, int32_t max_tokens) {
  GenerationRequest r;
  r.prompt = prompt;
  r.sampling = SamplingParams::greedy();
  r.sampling.max_tokens = max_tokens;
  return r;
}

GenerationRequest seeded(const std::string& prompt, int32_t max_tokens, uint64_t seed) {
  GenerationRequest r;
  r.prompt = prompt;
  r.sampling.temperature = 1.0f;
  r.sampling.seed = seed;
  r.sampling.max_tokens = max_tokens;
  return r;
}

// A submitted request's outcome: the result and the text streamed token by token.
struct Outcome {
  std::promise<ServingResult> done;
  std::future<ServingResult> future = done.get_future();
  std::string streamed;
  int64_t events = 0;
};

std::shared_ptr<Outcome> submit(ServingEngine& s, const GenerationRequest& g,
                                int32_t top_logprobs = -1) {
  auto o = std::make_shared<Outcome>();
  ServingCallbacks cb;
  cb.on_token = [o](const TokenEvent& ev) {
    o->streamed += ev.text;
    o->events++;
    return true;
  };
  cb.on_done = [o](const ServingResult& r) { o->done.set_value(r); };
  s.submit({g, top_logprobs}, std::move(cb));
  return o;
}

ServingResult wait(Outcome& o) {
  EXPECT_EQ(o.future.wait_for(std::chrono::seconds(120)), std::future_status::ready);
  return o.future.get();
}

// Waits until the engine thread has published its state after the last request finished.
ServingStats idle_stats(const ServingEngine& s) {
  for (int i = 0; i < 2000; ++i) {
    ServingStats st = s.stats();
    if (st.queued == 0 && st.running == 0) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return s.stats();
}

void expect_accounting(const ServingStats& st) {
  EXPECT_EQ(st.kv_blocks_used + st.kv_blocks_cached + st.kv_blocks_free, st.kv_blocks_total);
  EXPECT_EQ(st.kv_blocks_used, 0) << "an idle server holds no KV blocks";
}

std::vector<GenerationResult> alone(Engine& engine, const std::vector<GenerationRequest>& reqs) {
  std::vector<GenerationResult> out;
  for (const auto& r : reqs) out.push_back(engine.generate(r));
  return out;
}

// Submits every request at once and checks each output against the request run alone.
void expect_same_as_alone(Engine& engine, const ServingOptions& options,
                          const std::vector<GenerationRequest>& reqs,
                          const std::vector<GenerationResult>& expected, ServingStats* stats) {
  ServingEngine serving(engine, options);
  std::vector<std::shared_ptr<Outcome>> outs;
  for (const auto& r : reqs) outs.push_back(submit(serving, r));
  for (size_t i = 0; i < reqs.size(); ++i) {
    ServingResult r = wait(*outs[i]);
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.generation.output_ids, expected[i].output_ids) << "request " << i;
    EXPECT_EQ(r.generation.text, expected[i].text) << "request " << i;
    EXPECT_EQ(outs[i]->streamed, r.generation.text) << "streamed text, request " << i;
    EXPECT_EQ(r.generation.finish_reason, expected[i].finish_reason);
  }
  *stats = idle_stats(serving);
  expect_accounting(*stats);
}

TEST(Serving, ConcurrentGreedyEqualsAloneChunkedUnchunkedCachedUncached) {
  Engine engine(stories_options());
  std::vector<GenerationRequest> reqs;
  for (const char* p : kPrompts) reqs.push_back(greedy(p, 24));
  reqs.push_back(seeded(kPrompts[0], 24, 7));  // sampling settings do not leak across requests
  reqs.push_back(seeded(kPrompts[2], 24, 8));
  auto expected = alone(engine, reqs);
  struct Case {
    const char* name;
    int64_t step_tokens;
    bool chunked, cache;
  };
  for (Case c :
       {Case{"chunked 16, cache", 16, true, true}, Case{"chunked 7, no cache", 7, true, false},
        Case{"unchunked, cache", 16, false, true}, Case{"default", 512, true, true}}) {
    SCOPED_TRACE(c.name);
    ServingOptions o;
    o.max_step_tokens = c.step_tokens;
    o.chunked_prefill = c.chunked;
    o.prefix_cache = c.cache;
    ServingStats st;
    expect_same_as_alone(engine, o, reqs, expected, &st);
    EXPECT_EQ(st.requests_finished, static_cast<int64_t>(reqs.size()));
    EXPECT_EQ(st.preemptions, 0);
    if (!c.cache) {
      EXPECT_EQ(st.cached_prompt_tokens, 0);
    }
  }
}

TEST(Serving, RepeatedPromptHitsThePrefixCacheWithSameOutput) {
  Engine engine(stories_options());
  ServingEngine serving(engine, {});
  const GenerationRequest g = greedy(kPrompts[3], 16);
  const int64_t n_prompt = static_cast<int64_t>(engine.tokenize(kPrompts[3]).size());
  ServingResult first = wait(*submit(serving, g));
  ServingResult second = wait(*submit(serving, g));
  EXPECT_EQ(first.generation.cached_tokens, 0);
  EXPECT_EQ(second.generation.cached_tokens, (n_prompt - 1) / 16 * 16);
  EXPECT_GT(second.generation.cached_tokens, 0);
  EXPECT_EQ(first.generation.output_ids, second.generation.output_ids);
  ServingStats st = idle_stats(serving);
  EXPECT_EQ(st.cached_prompt_tokens, second.generation.cached_tokens);
  EXPECT_EQ(st.prompt_tokens, 2 * n_prompt);
  EXPECT_GT(st.kv_blocks_cached, 0);
  expect_accounting(st);
}

TEST(Serving, SharedPrefixAdmittedTogetherIsComputedOnce) {
  Engine engine(stories_options());
  const std::string system = story_opening();
  std::vector<GenerationRequest> reqs;
  for (const std::string& prompt : prompts_sharing_the_opening(4))
    reqs.push_back(greedy(prompt, 8));
  auto expected = alone(engine, reqs);
  ServingStats st;
  expect_same_as_alone(engine, {}, reqs, expected, &st);
  const int64_t reusable = (static_cast<int64_t>(engine.tokenize(system).size()) - 1) / 16 * 16;
  EXPECT_GE(st.cached_prompt_tokens, 3 * reusable);
  EXPECT_EQ(st.computed_prompt_tokens, st.prompt_tokens - st.cached_prompt_tokens);
}

// A KV budget of exactly one context (64 positions = 4 blocks) and four requests that each
// need most of it: requests are preempted and recomputed, yet every output (greedy and seeded)
// is the one it has alone, and every request finishes.
TEST(Serving, PreemptedRequestsRecomputeToTheSameOutput) {
  EngineOptions eo = stories_options(64);
  eo.kv_blocks = 4;
  Engine engine(eo);
  std::vector<GenerationRequest> reqs = {greedy(kPrompts[2], 40), seeded(kPrompts[5], 40, 3),
                                         greedy(kPrompts[4], 40), seeded(kPrompts[2], 40, 11)};
  for (auto& r : reqs) r.sampling.ignore_eos = true;
  auto expected = alone(engine, reqs);
  for (bool chunked : {true, false}) {
    SCOPED_TRACE(chunked ? "chunked" : "unchunked");
    ServingOptions o;
    o.max_step_tokens = 8;
    o.chunked_prefill = chunked;
    ServingStats st;
    expect_same_as_alone(engine, o, reqs, expected, &st);
    EXPECT_GT(st.preemptions, 0);
    EXPECT_EQ(st.requests_finished, 4);
    EXPECT_EQ(st.kv_blocks_total, 4);
  }
}

TEST(Serving, CancelFreesEverythingAndOthersContinue) {
  Engine engine(stories_options());
  // The engine may not be used directly while a ServingEngine owns it.
  const auto expected = engine.generate(greedy(kPrompts[4], 8)).output_ids;
  ServingEngine serving(engine, {});
  GenerationRequest long_one = greedy(kPrompts[0], -1);
  long_one.sampling.ignore_eos = true;
  // Cancelled by id while running.
  auto o = std::make_shared<Outcome>();
  std::promise<void> started;
  std::once_flag once;
  ServingCallbacks cb;
  cb.on_token = [&](const TokenEvent&) {
    std::call_once(once, [&] { started.set_value(); });
    return true;
  };
  cb.on_done = [o](const ServingResult& r) { o->done.set_value(r); };
  const uint64_t id = serving.submit({long_one, -1}, std::move(cb));
  started.get_future().wait();
  serving.cancel(id);
  ServingResult r = wait(*o);
  EXPECT_EQ(r.generation.finish_reason, "cancelled");
  EXPECT_LT(static_cast<int64_t>(r.generation.output_ids.size()), engine.model_info().n_ctx);
  // Cancelled by its callback (a client that went away).
  auto o2 = std::make_shared<Outcome>();
  ServingCallbacks cb2;
  cb2.on_token = [o2](const TokenEvent&) { return ++o2->events < 3; };
  cb2.on_done = [o2](const ServingResult& res) { o2->done.set_value(res); };
  serving.submit({long_one, -1}, std::move(cb2));
  ServingResult r2 = wait(*o2);
  EXPECT_EQ(r2.generation.finish_reason, "cancelled");
  EXPECT_LE(r2.generation.output_ids.size(), 4u);
  // The server still serves normally.
  ServingResult ok = wait(*submit(serving, greedy(kPrompts[4], 8)));
  EXPECT_EQ(ok.generation.output_ids, expected);
  ServingStats st = idle_stats(serving);
  EXPECT_EQ(st.requests_cancelled, 2);
  expect_accounting(st);
}

TEST(Serving, LogprobsDescribeTheSampledTokens) {
  Engine engine(stories_options());
  ServingEngine serving(engine, {});
  ServingResult r = wait(*submit(serving, greedy(kPrompts[4], 10), 5));
  ASSERT_EQ(r.tokens.size(), r.generation.output_ids.size());
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    const TokenEvent& t = r.tokens[i];
    EXPECT_EQ(t.id, r.generation.output_ids[i]);
    EXPECT_LE(t.logprob, 0.0f);
    ASSERT_EQ(t.top.size(), 5u);
    EXPECT_EQ(t.top[0].first, t.id) << "greedy picks the most likely token";
    EXPECT_FLOAT_EQ(t.top[0].second, t.logprob);
    for (size_t k = 1; k < t.top.size(); ++k) EXPECT_GE(t.top[k - 1].second, t.top[k].second);
  }
  ServingResult none = wait(*submit(serving, greedy(kPrompts[4], 10)));
  EXPECT_TRUE(none.tokens.empty());
}

TEST(Serving, InvalidRequestsAreRefusedAtSubmit) {
  Engine engine(stories_options(32));
  ServingEngine serving(engine, {});
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "the dog ran. ";
  try {
    serving.submit({greedy(long_prompt, 4), -1}, {});
    FAIL() << "an over-long prompt must be refused";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("context size is 32"), std::string::npos) << e.what();
  }
  GenerationRequest empty = greedy("", 4);
  empty.add_special = false;  // no BOS: no tokens at all
  EXPECT_THROW(serving.submit({empty, -1}, {}), InvalidArgument);
  EXPECT_THROW(serving.submit({greedy("hi", 4), 21}, {}), InvalidArgument);
  GenerationRequest bad = greedy("hi", 4);
  bad.sampling.top_p = 2;
  EXPECT_THROW(serving.submit({bad, -1}, {}), InvalidArgument);
  ServingResult ok = wait(*submit(serving, greedy("Once upon a time", 4)));
  EXPECT_TRUE(ok.error.empty());
  EXPECT_EQ(ok.generation.output_ids.size(), 4u);
}

// --step-log: a header, then one line per step whose columns add up to what the requests held:
// every prompt token computed once (no prefix cache), and one decode row per generated token
// after each request's first (which its last prompt step samples).
TEST(Serving, StepLogAccountsForEveryToken) {
  const std::string path = build_dir() + "/serving_step_log.tsv";
  std::remove(path.c_str());
  Engine engine(stories_options());
  ServingOptions options;
  options.prefix_cache = false;
  options.step_log = path;
  int64_t prompt_tokens = 0, decode_rows = 0;
  {
    ServingEngine serving(engine, options);
    std::vector<std::shared_ptr<Outcome>> outs;
    for (const char* p : kPrompts) outs.push_back(submit(serving, greedy(p, 12)));
    for (auto& o : outs) {
      ServingResult r = wait(*o);
      ASSERT_TRUE(r.error.empty()) << r.error;
      prompt_tokens += static_cast<int64_t>(r.generation.prompt_ids.size());
      decode_rows += static_cast<int64_t>(r.generation.output_ids.size()) - 1;
    }
  }
  std::ifstream in(path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line.rfind("# step\tdecode_rows\tprompt_tokens", 0), 0u) << line;
  int64_t steps = 0, logged_prompt = 0, logged_decode = 0;
  while (std::getline(in, line)) {
    std::istringstream cols(line);
    int64_t step = 0, decodes = 0, tokens = 0, sequences = 0, pos0 = 0;
    double schedule_ms = -1, forward_ms = -1, update_ms = -1;
    ASSERT_TRUE(cols >> step >> decodes >> tokens >> sequences >> pos0 >> schedule_ms >>
                forward_ms >> update_ms)
        << line;
    EXPECT_EQ(step, ++steps);
    EXPECT_GT(decodes + tokens, 0) << line;
    EXPECT_EQ(sequences > 0, tokens > 0) << line;
    EXPECT_GE(schedule_ms, 0);
    EXPECT_GT(forward_ms, 0);
    EXPECT_GE(update_ms, 0);
    logged_prompt += tokens;
    logged_decode += decodes;
  }
  EXPECT_EQ(logged_prompt, prompt_tokens);
  EXPECT_EQ(logged_decode, decode_rows);
}

TEST(Serving, StepLogThatCannotBeOpenedIsNamed) {
  Engine engine(stories_options());
  ServingOptions options;
  options.step_log = "/nonexistent-dir/steps.tsv";
  try {
    ServingEngine serving(engine, options);
    FAIL() << "an unwritable step log must be refused";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/steps.tsv"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace packinfer::test
