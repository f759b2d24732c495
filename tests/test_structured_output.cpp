// Structured output end to end on real models, sampled at temperature 1 (so the masks really
// decide): every test schema on stories260K (a trained 512-token SentencePiece vocabulary) and on
// a synthetic SmolLM2 (49,152-token byte-level BPE), each output checked by the independent
// validator in tests/support (complete outputs against the schema, outputs cut by max_tokens as
// valid prefixes); GBNF grammars checked by hand-written recognizers; bad schemas and grammars
// refused at submission.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <regex>
#include <string>

#include "packinfer/batch.h"
#include "packinfer/engine.h"
#include "packinfer/error.h"
#include "support/json_schema_validator.h"
#include "support/test_grammars.h"
#include "support/test_schemas.h"
#include "support/test_support.h"

namespace packinfer {
namespace {

using ojson = nlohmann::ordered_json;

std::string stories() { return test::shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }
std::string smollm2() { return test::shared_dir() + "/models/synthetic/tiny-Q4_K_M.gguf"; }

GenerationRequest request(const std::string& prompt, StructuredOutput::Kind kind,
                          const std::string& text, int max_tokens, uint64_t seed) {
  GenerationRequest r;
  r.prompt = prompt;
  r.sampling.temperature = 1.0f;  // plain sampling: whatever the model likes, within the mask
  r.sampling.top_k = 0;
  r.sampling.top_p = 1.0f;
  r.sampling.min_p = 0.0f;
  r.sampling.seed = seed;
  r.sampling.max_tokens = max_tokens;
  r.sampling.structured.kind = kind;
  r.sampling.structured.text = text;
  return r;
}

struct Tally {
  int complete = 0;
  int cut = 0;
};

// Every schema, `seeds` times, max_tokens scaled by `budget`.
Tally run_schemas(Engine& engine, const std::string& prompt, int seeds, int budget) {
  Tally t;
  for (const test::SchemaCase& c : test::test_schemas()) {
    const ojson schema = ojson::parse(c.schema);
    for (int seed = 1; seed <= seeds; ++seed) {
      const GenerationResult r = engine.generate(request(prompt, StructuredOutput::Kind::JsonSchema,
                                                         c.schema, c.max_tokens * budget, seed));
      SCOPED_TRACE(std::string(c.name) + " seed " + std::to_string(seed) + ": " + r.text);
      if (r.finish_reason == "stop") {
        EXPECT_EQ(test::validate_json_text(r.text, schema), "");
        ++t.complete;
      } else {
        EXPECT_EQ(r.finish_reason, "length");
        EXPECT_EQ(static_cast<int>(r.output_ids.size()), c.max_tokens * budget);
        EXPECT_EQ(test::validate_json_prefix(r.text, schema), "");
        ++t.cut;
      }
    }
  }
  std::printf("[ schemas ] %d complete, %d cut by max_tokens\n", t.complete, t.cut);
  return t;
}

TEST(StructuredOutput, AtLeastFiftySchemas) { EXPECT_GE(test::test_schemas().size(), 50u); }

TEST(StructuredOutput, SchemasOnStories260K) {
  Engine engine({.model_path = stories(), .n_threads = 2, .n_ctx = 1024});
  const Tally t = run_schemas(engine, "Once upon a time", 2, 4);
  EXPECT_GE(t.complete, (t.complete + t.cut) * 3 / 4);
}

TEST(StructuredOutput, SchemasOnSmolLM2Vocabulary) {
  Engine engine({.model_path = smollm2(), .n_threads = 2, .n_ctx = 1024});
  const Tally t = run_schemas(engine, "Answer in JSON:", 1, 3);
  EXPECT_GE(t.complete, (t.complete + t.cut) * 3 / 4);
}

TEST(StructuredOutput, JsonObjectMode) {
  int complete = 0;
  for (const std::string& model : {stories(), smollm2()}) {
    Engine engine({.model_path = model, .n_threads = 2, .n_ctx = 1024});
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      const GenerationResult r = engine.generate(
          request("Once upon a time", StructuredOutput::Kind::JsonObject, "", 200, seed));
      SCOPED_TRACE(r.text);
      if (r.finish_reason == "stop") {
        ++complete;
        EXPECT_EQ(test::validate_json_text(r.text, ojson::parse(R"({"type": "object"})")), "");
      } else {
        EXPECT_EQ(test::validate_json_prefix(r.text, ojson::parse(R"({"type": "object"})")), "");
        EXPECT_EQ(r.text.rfind("{", 0), 0u);
      }
    }
  }
  EXPECT_GE(complete, 1);
}

TEST(StructuredOutput, GreedyAndTopKFilteredSamplingStayInTheGrammar) {
  Engine engine({.model_path = stories(), .n_threads = 2});
  const char* schema =
      R"({"type":"object","properties":{"hero":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":1,"maximum":12}},"required":["hero","age"]})";
  GenerationRequest g =
      request("Once upon a time", StructuredOutput::Kind::JsonSchema, schema, 64, 1);
  g.sampling.temperature = 0;
  const GenerationResult a = engine.generate(g);
  EXPECT_EQ(a.finish_reason, "stop");
  EXPECT_EQ(test::validate_json_text(a.text, ojson::parse(schema)), "") << a.text;
  EXPECT_EQ(engine.generate(g).text, a.text);  // greedy is deterministic
  GenerationRequest k =
      request("Once upon a time", StructuredOutput::Kind::JsonSchema, schema, 64, 9);
  k.sampling.temperature = 0.8f;
  k.sampling.top_k = 5;
  k.sampling.top_p = 0.9f;
  k.sampling.min_p = 0.05f;
  k.sampling.repetition_penalty = 1.3f;
  k.sampling.repetition_window = 16;
  const GenerationResult b = engine.generate(k);
  EXPECT_EQ(test::validate_json_text(b.text, ojson::parse(schema)), "") << b.text;
  EXPECT_EQ(engine.generate(k).text, b.text);  // same seed, same text
}

// --- GBNF ---------------------------------------------------------------------------------------

// Recognizer for kArithmeticGbnf, by recursive descent.
bool arithmetic(const std::string& s) {
  size_t i = 0;
  std::function<bool()> expr, term, factor;
  factor = [&]() -> bool {
    if (i < s.size() && s[i] == '(') {
      ++i;
      if (!expr() || i >= s.size() || s[i] != ')') return false;
      ++i;
      return true;
    }
    const size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i > start && i - start <= 4;
  };
  term = [&]() -> bool {
    if (!factor()) return false;
    while (i < s.size() && (s[i] == '*' || s[i] == '/')) {
      ++i;
      if (!factor()) return false;
    }
    return true;
  };
  expr = [&]() -> bool {
    if (!term()) return false;
    while (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      ++i;
      if (!term()) return false;
    }
    return true;
  };
  return expr() && i == s.size();
}

bool balanced_lists(const std::string& s) {
  int depth = 0;
  char prev = 0;
  for (char c : s) {
    if (c == '[')
      ++depth;
    else if (c == ']')
      --depth;
    else if (!(c == ',' || (c >= 'a' && c <= 'z')))
      return false;
    if (depth < 0 || (c == ',' && (prev == '[' || prev == ','))) return false;
    prev = c;
  }
  return depth == 0 && !s.empty() && s[0] == '[';
}

TEST(StructuredOutput, GbnfGrammarsProduceTheirLanguages) {
  struct Case {
    const char* name;
    const char* gbnf;
    std::function<bool(const std::string&)> complete;
    int max_tokens;
  };
  // The grammar counts characters ([^\n]{1,20} is 20 code points, up to 80 bytes) while
  // std::regex counts bytes, so the list is checked by hand.
  const auto list = [](const std::string& s) {
    size_t items = 0, at = 0;
    while (at < s.size()) {
      const size_t end = s.find('\n', at);
      if (end == std::string::npos || s.compare(at, 2, "- ") != 0) return false;
      size_t chars = 0;
      for (size_t i = at + 2; i < end; ++i)
        chars += (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
      if (chars < 1 || chars > 20) return false;
      ++items;
      at = end + 1;
    }
    return items >= 1 && items <= 5;
  };
  const std::regex answer(R"((yes|no), because [a-z ]{1,30}\.)");
  const std::regex chess(
      R"(1\. ([a-h](x[a-h])?[1-8]|[KQRBN][a-h]?x?[a-h][1-8])[+#]? (([a-h](x[a-h])?[1-8]|[KQRBN][a-h]?x?[a-h][1-8])[+#]?)?)");
  const Case cases[] = {
      {"arithmetic", test::kArithmeticGbnf, arithmetic, 48},
      {"list", test::kListGbnf, list, 96},
      {"json", test::kJsonGbnf,
       [](const std::string& s) { return ojson::accept(s) && s[0] == '{'; }, 160},
      {"answer", test::kAnswerGbnf,
       [&](const std::string& s) { return std::regex_match(s, answer); }, 48},
      {"chess", test::kChessGbnf, [&](const std::string& s) { return std::regex_match(s, chess); },
       24},
      {"nested", test::kNestedGbnf, balanced_lists, 64},
  };
  // Every output is checked; each grammar must be completed at least once on some model (free
  // text inside a grammar can run past any budget: stories260K tells stories in JSON strings).
  std::map<std::string, int> complete;
  for (const std::string& model : {stories(), smollm2()}) {
    Engine engine({.model_path = model, .n_threads = 2});
    for (const Case& c : cases) {
      for (uint64_t seed = 1; seed <= 4; ++seed) {
        const GenerationResult r = engine.generate(request(
            "Once upon a time", StructuredOutput::Kind::Grammar, c.gbnf, c.max_tokens, seed));
        SCOPED_TRACE(std::string(c.name) + ": " + r.text);
        if (r.finish_reason == "stop") {
          ++complete[c.name];
          EXPECT_TRUE(c.complete(r.text));
        } else {
          EXPECT_EQ(r.finish_reason, "length");
          EXPECT_EQ(static_cast<int>(r.output_ids.size()), c.max_tokens);
        }
      }
    }
  }
  for (const Case& c : cases) EXPECT_GE(complete[c.name], 1) << c.name;
}

TEST(StructuredOutput, GrammarThatCannotFinishInTimeEndsWithLength) {
  Engine engine({.model_path = stories(), .n_threads = 2});
  const char* schema = R"({"type":"string","minLength":300,"maxLength":300})";
  const GenerationResult r = engine.generate(
      request("Once upon a time", StructuredOutput::Kind::JsonSchema, schema, 12, 1));
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(r.output_ids.size(), 12u);
  EXPECT_EQ(test::validate_json_prefix(r.text, ojson::parse(schema)), "");
  // max_tokens 0 under a grammar: nothing, "length".
  const GenerationResult z =
      engine.generate(request("Once upon a time", StructuredOutput::Kind::JsonObject, "", 0, 1));
  EXPECT_EQ(z.finish_reason, "length");
  EXPECT_EQ(z.text, "");
}

TEST(StructuredOutput, IgnoreEosKeepsGoingOnlyWhereTheGrammarCan) {
  Engine engine({.model_path = stories(), .n_threads = 2});
  GenerationRequest r =
      request("Once upon a time", StructuredOutput::Kind::Grammar, "root ::= \"x\" [0-9]*", 20, 1);
  r.sampling.ignore_eos = true;
  const GenerationResult a = engine.generate(r);
  EXPECT_EQ(a.finish_reason, "length");  // the digits could always go on
  EXPECT_TRUE(std::regex_match(a.text, std::regex("x[0-9]*"))) << a.text;
  r.sampling.structured.text = "root ::= \"done\"";
  const GenerationResult b = engine.generate(r);
  EXPECT_EQ(b.finish_reason, "stop");  // complete and nothing can follow
  EXPECT_EQ(b.text, "done");
}

TEST(StructuredOutput, ConstSchemaGivesTheConstantWhateverTheSeed) {
  // The text is forced throughout (the tokens spelling it may differ from seed to seed).
  Engine engine({.model_path = smollm2(), .n_threads = 2});
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const GenerationResult r =
        engine.generate(request("x", StructuredOutput::Kind::JsonSchema,
                                R"({"const": {"status": "ok", "code": 200}})", 64, seed));
    EXPECT_EQ(r.text, R"({"status": "ok", "code": 200})");
    EXPECT_EQ(r.finish_reason, "stop");
  }
}

TEST(StructuredOutput, BatchJobsApplyEachRequestsGrammar) {
  Engine engine({.model_path = stories(), .n_threads = 2, .n_ctx = 512});
  std::vector<GenerationRequest> reqs;
  const auto& cases = test::test_schemas();
  for (size_t i = 0; i < 12; ++i) {
    reqs.push_back(request("Once upon a time", StructuredOutput::Kind::JsonSchema,
                           cases[i * 4].schema, cases[i * 4].max_tokens * 4, i + 1));
  }
  reqs.push_back(request("Once upon a time", StructuredOutput::Kind::None, "", 16, 1));
  reqs.push_back(request("Once upon a time", StructuredOutput::Kind::JsonSchema,
                         R"({"type":"strng"})", 16, 1));
  BatchOptions options;
  const std::vector<BatchItemResult> out = engine.generate_batch(reqs, options);
  for (size_t i = 0; i < 12; ++i) {
    SCOPED_TRACE(cases[i * 4].name + std::string(": ") + out[i].result.text);
    EXPECT_EQ(out[i].error, "");
    const ojson schema = ojson::parse(cases[i * 4].schema);
    if (out[i].result.finish_reason == "stop") {
      EXPECT_EQ(test::validate_json_text(out[i].result.text, schema), "");
    } else {
      EXPECT_EQ(test::validate_json_prefix(out[i].result.text, schema), "");
    }
  }
  EXPECT_EQ(out[12].error, "");
  EXPECT_NE(out[13].error.find("unknown type 'strng'"), std::string::npos) << out[13].error;
}

TEST(StructuredOutput, BadSchemasAndGrammarsAreRefusedAtSubmission) {
  Engine engine({.model_path = stories(), .n_threads = 1});
  const std::pair<StructuredOutput::Kind, const char*> bad[] = {
      {StructuredOutput::Kind::JsonSchema, R"({"type":"string","pattern":"a+"})"},
      {StructuredOutput::Kind::JsonSchema, "{not json"},
      {StructuredOutput::Kind::JsonSchema, R"({"type":"integer","minimum":3,"maximum":2})"},
      {StructuredOutput::Kind::Grammar, "root ::= root \"a\""},
      {StructuredOutput::Kind::Grammar, "root ::= \"a\" x\nx ::= x \"b\" | \"c\" x"},
      {StructuredOutput::Kind::Grammar, "root ::= [a-"},
  };
  for (const auto& [kind, text] : bad) {
    EXPECT_THROW(engine.generate(request("Once", kind, text, 8, 1)), InvalidArgument) << text;
  }
}

}  // namespace
}  // namespace packinfer
