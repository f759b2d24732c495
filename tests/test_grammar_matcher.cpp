// The grammar matcher's token masks against a brute-force reference (each token's bytes simulated
// from the current state, no precomputed tables, no trie), on random walks through several
// grammars, with a synthetic vocabulary built to hit the hard cases (tokens that cross rule
// boundaries, partial UTF-8, duplicates) and with SmolLM2's real 49,152-token vocabulary.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "gguf/gguf_file.h"
#include "grammar/grammar_cache.h"
#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "support/grammar_helpers.h"
#include "support/test_grammars.h"
#include "support/test_support.h"
#include "tokenizer/tokenizer.h"

namespace packinfer {
namespace {

using grammar::GrammarMatcher;

// Tokens made of the characters grammars care about, in random combinations: they start and end
// anywhere relative to rule boundaries.
std::vector<std::string> tricky_tokens(size_t n, uint64_t seed) {
  const std::vector<std::string> pieces = {
      "{",    "}",      "[",  "]",   "\"",   ":",    ",",        " ",    "\n",   "a",
      "b",    "x",      "0",  "1",   "9",    "-",    ".",        "e",    "+",    "*",
      "(",    ")",      "\\", "u",   "true", "null", "\xC3\xA9", "\xC3", "\xA9", "\xE4\xB8\xAD",
      "\": ", "\", \"", "- ", "yes", "no"};
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    std::string t;
    const size_t len = 1 + rng() % 4;
    for (size_t k = 0; k < len; ++k) t += pieces[rng() % pieces.size()];
    out.push_back(t);
  }
  out.push_back("a");  // a duplicate of a byte token
  return out;
}

// Walks the grammar by random allowed tokens, comparing the masks at every step. Returns the
// number of states compared.
int compare_walks(const std::shared_ptr<const grammar::CompiledGrammar>& g, int walks, int steps,
                  uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int32_t n = g->vocab->size();
  int compared = 0;
  for (int w = 0; w < walks; ++w) {
    GrammarMatcher m(g);
    for (int s = 0; s < steps; ++s) {
      const std::vector<uint64_t> fast = test::fast_mask(m);
      const std::vector<uint64_t> ref = test::reference_mask(m);
      ++compared;
      if (fast != ref) {
        const auto f = test::mask_tokens(fast, n), r = test::mask_tokens(ref, n);
        std::string diff;
        for (int32_t t : r) {
          if (std::find(f.begin(), f.end(), t) == f.end())
            diff += " missing '" + std::string(g->vocab->bytes(t)) + "'";
        }
        for (int32_t t : f) {
          if (std::find(r.begin(), r.end(), t) == r.end())
            diff += " extra '" + std::string(g->vocab->bytes(t)) + "'";
        }
        ADD_FAILURE() << "mask differs at walk " << w << " step " << s << ":" << diff;
        return compared;
      }
      std::vector<int32_t> allowed = test::mask_tokens(fast, n);
      if (allowed.empty()) {
        ADD_FAILURE() << "no token allowed at walk " << w << " step " << s;
        return compared;
      }
      const int32_t pick = allowed[rng() % allowed.size()];
      EXPECT_TRUE(m.accept_token(pick));
      if (m.terminated() || m.must_end()) break;
    }
  }
  return compared;
}

TEST(GrammarMatcher, MasksEqualBruteForceOnSyntheticVocabulary) {
  auto vocab = test::byte_vocabulary(tricky_tokens(600, 7));
  const std::vector<std::string> grammars = {
      test::kArithmeticGbnf,
      test::kListGbnf,
      test::kJsonGbnf,
      test::kAnswerGbnf,
      test::kChessGbnf,
      test::kNestedGbnf,
      grammar::json_object_gbnf(),
      grammar::json_schema_gbnf(
          R"({"type":"object","properties":{"a":{"type":"integer","minimum":-20,"maximum":300},
        "b":{"type":"array","items":{"type":"string","maxLength":3},"maxItems":3},"c":{"enum":["x","xy",null]}},
        "required":["a"],"additionalProperties":{"type":"number","minimum":0.5,"exclusiveMaximum":2}})"),
      // Ambiguous on purpose: several parses alive at once.
      "root ::= x x \"!\"\nx ::= \"a\"*",
  };
  int total = 0;
  for (size_t i = 0; i < grammars.size(); ++i) {
    SCOPED_TRACE(grammars[i]);
    total += compare_walks(test::compile_gbnf(grammars[i], vocab), 8, 40, 100 + i);
  }
  EXPECT_GE(total, 500);
}

TEST(GrammarMatcher, MasksEqualBruteForceOnSmolLM2Vocabulary) {
  auto file = gguf::File::open(test::shared_dir() + "/models/synthetic/tiny-Q4_K_M.gguf");
  auto tok = Tokenizer::from_gguf(*file);
  auto vocab = grammar::Vocabulary::from_tokenizer(*tok);
  ASSERT_EQ(vocab->size(), 49152);
  const std::vector<std::string> grammars = {
      test::kJsonGbnf,
      grammar::json_schema_gbnf(
          R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},
        "n":{"type":"integer","exclusiveMinimum":-5,"maximum":99},"ok":{"type":"boolean"}},"required":["name","n"]})"),
      test::kArithmeticGbnf,
  };
  int total = 0;
  for (size_t i = 0; i < grammars.size(); ++i) {
    SCOPED_TRACE(grammars[i]);
    total += compare_walks(test::compile_gbnf(grammars[i], vocab), 2, 12, 200 + i);
  }
  EXPECT_GE(total, 30);
}

TEST(GrammarMatcher, EndOfGenerationOnlyWhenComplete) {
  auto vocab = test::byte_vocabulary();
  GrammarMatcher m(test::compile_gbnf("root ::= \"ab\" \"c\"?", vocab));
  const int32_t eog = vocab->end_of_generation()[0];
  auto allows = [&](int32_t t) {
    return test::fast_mask(m)[static_cast<size_t>(t >> 6)] >> (t & 63) & 1;
  };
  EXPECT_FALSE(allows(eog));
  EXPECT_FALSE(m.accept_token(eog));
  EXPECT_TRUE(m.accept_bytes("ab"));
  EXPECT_TRUE(allows(eog));
  EXPECT_TRUE(allows('c'));
  EXPECT_FALSE(m.must_end());
  EXPECT_TRUE(m.accept_bytes("c"));
  EXPECT_TRUE(m.must_end());
  EXPECT_EQ(test::mask_tokens(test::fast_mask(m), vocab->size()), std::vector<int32_t>{eog});
  EXPECT_TRUE(m.accept_token(eog));
  EXPECT_TRUE(m.terminated());
  EXPECT_TRUE(test::mask_tokens(test::fast_mask(m), vocab->size()).empty());
  // The control token is never allowed.
  GrammarMatcher any(test::compile_gbnf("root ::= .*", vocab));
  EXPECT_FALSE(test::fast_mask(any)[static_cast<size_t>((eog + 1) >> 6)] >> ((eog + 1) & 63) & 1);
  EXPECT_FALSE(any.accept_token(eog + 1));
}

TEST(GrammarMatcher, ForcedBytes) {
  auto vocab = test::byte_vocabulary();
  GrammarMatcher m(test::compile_gbnf(
      grammar::json_schema_gbnf(
          R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"]})"),
      vocab));
  EXPECT_EQ(m.forced_bytes(), "{\"name\": \"");
  EXPECT_TRUE(m.accept_bytes("{\"name\": \"Bo\""));
  EXPECT_EQ(m.forced_bytes(), ", \"age\": ");
  EXPECT_TRUE(m.accept_bytes(", \"age\": 7"));
  EXPECT_EQ(m.forced_bytes(), "");  // another digit or "}"
  EXPECT_TRUE(m.accept_bytes("}"));
  EXPECT_TRUE(m.must_end());
}

TEST(GrammarMatcher, RejectedTokensLeaveTheStateUnchanged) {
  auto vocab = test::byte_vocabulary({"ab", "abc"});
  GrammarMatcher m(test::compile_gbnf("root ::= \"ab\" \"d\"", vocab));
  EXPECT_FALSE(m.accept_token(257));  // "abc"
  EXPECT_TRUE(m.accept_token(256));   // "ab"
  EXPECT_TRUE(m.accept_bytes("d"));
  EXPECT_TRUE(m.must_end());
}

TEST(GrammarMatcher, LongOutputsKeepMemoryBounded) {
  auto vocab = test::byte_vocabulary();
  GrammarMatcher m(test::compile_gbnf(test::kNestedGbnf, vocab));
  std::string text;
  for (int i = 0; i < 3000; ++i) text += "[a,";
  ASSERT_TRUE(m.accept_bytes(text));
  ASSERT_TRUE(m.accept_bytes("b"));
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(m.accept_bytes("]"));
  EXPECT_TRUE(m.must_end());
}

}  // namespace
}  // namespace packinfer
