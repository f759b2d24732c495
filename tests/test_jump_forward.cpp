// Jump-forward is exact: tokens a grammar forces are fed to the model several at a time (one
// decode piece of several tokens), and greedy generation through the engine must give exactly
// the text of a reference loop that feeds one token per forward, masks with its own matcher and
// takes the argmax. Checked through both schedulers (a single generate call and the online
// serving policy), on stories260K in f32.
#include <gtest/gtest.h>

#include <future>
#include <limits>
#include <string>

#include "grammar/grammar_cache.h"
#include "grammar/matcher.h"
#include "model/model.h"
#include "packinfer/engine.h"
#include "packinfer/serving.h"
#include "support/test_model.h"
#include "support/test_support.h"

namespace packinfer {
namespace {

std::string stories() { return test::shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }

// stories260K spells "~" and "\u00e9"'s bytes only with byte tokens, so those stretches are
// forced token by token: runs the engine feeds in one forward.
const char* kSchemas[] = {
    R"({"type":"object","properties":{"tag":{"const":"~~~~~~~~"},"n":{"type":"integer","minimum":0,"maximum":99},"mark":{"const":"\u00e9\u00e9\u00e9"}},"required":["tag","n","mark"]})",
    R"({"type":"object","properties":{"name":{"type":"string","maxLength":10},"kind":{"enum":["dog","cat","bird"]},"legs":{"type":"integer","minimum":0,"maximum":8}},"required":["name","kind","legs"]})",
    R"({"type":"array","items":{"type":"object","properties":{"id":{"const":"fixed-identifier"},"ok":{"type":"boolean"}},"required":["id","ok"]},"minItems":2,"maxItems":2})",
};

GenerationRequest greedy(const char* schema, int max_tokens) {
  GenerationRequest r;
  r.prompt = "Once upon a time";
  r.sampling = SamplingParams::greedy();
  r.sampling.max_tokens = max_tokens;
  r.sampling.structured.kind = StructuredOutput::Kind::JsonSchema;
  r.sampling.structured.text = schema;
  return r;
}

// One token per forward: the reference.
std::string reference(test::TestModel& tm, const Tokenizer& tok, const char* schema, int max_tokens,
                      int* forced_runs) {
  StructuredOutput spec;
  spec.kind = StructuredOutput::Kind::JsonSchema;
  spec.text = schema;
  grammar::GrammarCompiler compiler(tok);
  grammar::GrammarMatcher m(compiler.compile(spec));
  std::vector<uint64_t> mask(static_cast<size_t>(m.mask_words()));
  const std::vector<int32_t> prompt = tok.encode("Once upon a time", true, true);
  SequenceKv seq;
  std::vector<float> logits;
  tm.prefill(seq, prompt, 512, [&](int64_t pos, std::span<const float> l) {
    if (pos + 1 == static_cast<int64_t>(prompt.size())) logits.assign(l.begin(), l.end());
  });
  std::string text;
  int run = 0;
  for (int n = 0; n < max_tokens && !m.must_end(); ++n) {
    m.fill_mask(mask.data());
    int32_t best = -1, allowed = 0;
    for (int32_t t = 0; t < static_cast<int32_t>(logits.size()); ++t) {
      if (!(mask[static_cast<size_t>(t >> 6)] >> (t & 63) & 1)) continue;
      ++allowed;
      if (best < 0 || logits[static_cast<size_t>(t)] > logits[static_cast<size_t>(best)]) best = t;
    }
    run = allowed == 1 ? run + 1 : 0;
    if (run == 2) ++*forced_runs;  // two forced tokens in a row: the engine batches them
    if (tok.is_eog(best)) break;
    EXPECT_TRUE(m.accept_token(best));
    text += tok.token_to_piece(best, false);
    logits = tm.step(seq, best);
  }
  tm.kv().release(seq);
  return text;
}

TEST(JumpForward, EqualsTokenByTokenGreedyDecoding) {
  test::TestModel tm(stories(), 2);
  Engine engine({.model_path = stories(), .n_threads = 2});
  ServingEngine serving(engine, {});
  int total_runs = 0;
  for (const char* schema : kSchemas) {
    int forced_runs = 0;
    const std::string want = reference(tm, tm.model().tokenizer(), schema, 120, &forced_runs);
    total_runs += forced_runs;
    EXPECT_EQ(engine.generate(greedy(schema, 120)).text, want) << schema;
    std::promise<ServingResult> done;
    ServingRequest sr;
    sr.generation = greedy(schema, 120);
    serving.submit(sr, {{}, [&done](const ServingResult& r) { done.set_value(r); }});
    EXPECT_EQ(done.get_future().get().generation.text, want) << schema;
  }
  EXPECT_GE(total_runs, 2);  // jump-forward really ran
}

}  // namespace
}  // namespace packinfer
