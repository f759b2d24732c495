// GBNF: what the parser accepts and refuses (with line and column), and which texts the compiled
// automaton accepts, on grammars of the kinds llama.cpp ships (arithmetic, lists, JSON, ...).
#include <gtest/gtest.h>

#include <string>

#include "grammar/automaton_builder.h"
#include "grammar/gbnf_parser.h"
#include "packinfer/error.h"
#include "support/grammar_helpers.h"
#include "support/test_grammars.h"

namespace packinfer {
namespace {

using test::gbnf_accepts;

std::string error_of(const std::string& gbnf) {
  try {
    grammar::compile_automaton(grammar::parse_gbnf(gbnf));
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

TEST(Gbnf, Arithmetic) {
  const std::string g = test::kArithmeticGbnf;
  for (const char* ok : {"1", "12+3", "(1+2)*3", "((4))", "7/2-1*(3+4)"})
    EXPECT_TRUE(gbnf_accepts(g, ok)) << ok;
  for (const char* bad : {"", "+1", "1+", "(1", "1)", "a", "1 + 2"})
    EXPECT_FALSE(gbnf_accepts(g, bad)) << bad;
}

TEST(Gbnf, Lists) {
  const std::string g = test::kListGbnf;
  EXPECT_TRUE(gbnf_accepts(g, "- apples\n- pears\n"));
  EXPECT_TRUE(gbnf_accepts(g, "- x\n"));
  EXPECT_FALSE(gbnf_accepts(g, "- \n"));
  EXPECT_FALSE(gbnf_accepts(g, "apples\n"));
  EXPECT_FALSE(gbnf_accepts(g, "- a\n- b\n- c\n- d\n- e\n- f\n"));  // at most five items
}

TEST(Gbnf, Json) {
  const std::string g = test::kJsonGbnf;
  for (const char* ok : {R"({})", R"({"a": 1})", R"({"a":[1, 2.5e3, "x", null, true]})",
                         "{\n  \"k\": {\"n\": -0.5}\n}", R"({"u": "\u00e9\n"})"}) {
    EXPECT_TRUE(gbnf_accepts(g, ok)) << ok;
  }
  for (const char* bad : {R"([])", R"({"a"})", R"({"a": 01})", R"({'a': 1})", R"({"a": "\x"})"}) {
    EXPECT_FALSE(gbnf_accepts(g, bad)) << bad;
  }
}

TEST(Gbnf, Repetition) {
  const std::string g = "root ::= \"a\"{2,4} \"b\"{3} \"c\"{2,} \"d\"{,1}";
  EXPECT_TRUE(gbnf_accepts(g, "aabbbcc"));
  EXPECT_TRUE(gbnf_accepts(g, "aaaabbbccccd"));
  EXPECT_FALSE(gbnf_accepts(g, "abbbcc"));
  EXPECT_FALSE(gbnf_accepts(g, "aaaaabbbcc"));
  EXPECT_FALSE(gbnf_accepts(g, "aabbcc"));
  EXPECT_FALSE(gbnf_accepts(g, "aabbbc"));
  EXPECT_FALSE(gbnf_accepts(g, "aabbbccdd"));
}

TEST(Gbnf, ClassesEscapesAndUnicode) {
  EXPECT_TRUE(gbnf_accepts("root ::= [a-c]+ [^a-z] .", "abcA\xC3\xA9"));  // é is one "."
  EXPECT_FALSE(gbnf_accepts("root ::= [a-c]+ [^a-z] .", "abcAxy"));
  EXPECT_TRUE(gbnf_accepts(R"(root ::= "\x41\u00e9\t\"\\" [\]\[-])", "A\xC3\xA9\t\"\\]"));
  EXPECT_TRUE(gbnf_accepts(R"(root ::= [\u4e00-\u9fff]{2})", "\xE4\xB8\xAD\xE6\x96\x87"));  // 中文
  EXPECT_FALSE(gbnf_accepts(R"(root ::= [\u4e00-\u9fff]{2})", "\xE4\xB8\xAD"));
  EXPECT_TRUE(gbnf_accepts("root ::= [😀-😂]", "\xF0\x9F\x98\x81"));
  // A negated class never matches half a character or a surrogate's encoding.
  EXPECT_FALSE(gbnf_accepts("root ::= [^a]", "\xC3"));
  EXPECT_FALSE(gbnf_accepts("root ::= [^a]", "\xED\xA0\x80"));
}

TEST(Gbnf, CommentsNewlinesAndContinuations) {
  const std::string g =
      "# a comment\n"
      "root ::= greeting \" \" name  # trailing comment\n"
      "greeting ::= (\n"
      "    \"hello\"\n"
      "  | \"hi\"\n"
      ")\n"
      "name ::= \"bob\"\n"
      "       | \"alice\"\r\n";
  EXPECT_TRUE(gbnf_accepts(g, "hello bob"));
  EXPECT_TRUE(gbnf_accepts(g, "hi alice"));
  EXPECT_FALSE(gbnf_accepts(g, "hey bob"));
}

TEST(Gbnf, EmptyAlternativesAndNullableRules) {
  const std::string g = "root ::= ws \"x\" ws\nws ::= | \" \" ws";
  EXPECT_TRUE(gbnf_accepts(g, "x"));
  EXPECT_TRUE(gbnf_accepts(g, "  x   "));
  EXPECT_FALSE(gbnf_accepts(g, "x x"));
  EXPECT_TRUE(gbnf_accepts("root ::= \"\"", ""));
}

TEST(Gbnf, ErrorsNameLineAndColumn) {
  EXPECT_NE(error_of("root ::= \"a\"\nfoo := \"b\"").find("line 2, column 5: expected '::='"),
            std::string::npos)
      << error_of("root ::= \"a\"\nfoo := \"b\"");
  EXPECT_NE(error_of("root ::= \"abc").find("line 1, column 10: unterminated string"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= [a-").find("unterminated character class"), std::string::npos);
  EXPECT_NE(error_of("root ::= x\n").find("line 1, column 10: rule 'x' is used but never defined"),
            std::string::npos);
  EXPECT_NE(error_of("a ::= \"x\"").find("no rule named 'root'"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"\nroot ::= \"b\"")
                .find("line 2, column 1: rule 'root' is defined twice"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= *").find("nothing before it to repeat"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{3,1}").find("maximum below its minimum"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{99999}").find("repetition count above the limit"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= \"\\q\"").find("unknown escape '\\q'"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"\\ud800\"").find("surrogate"), std::string::npos);
  EXPECT_NE(error_of("root ::= <think>").find("token references"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\" )").find("unexpected ')'"), std::string::npos);
  EXPECT_NE(error_of("root ::= [^\\x00-\\U0010FFFF]").find("matches no character"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("root ::= \"\xff\"")).find("not valid UTF-8"), std::string::npos);
}

TEST(Gbnf, LeftRecursionIsRefusedWithTheCycle) {
  const std::string e = error_of("root ::= expr\nexpr ::= expr \"+\" term | term\nterm ::= [0-9]");
  EXPECT_NE(e.find("rule 'expr' is left-recursive (expr -> expr"), std::string::npos) << e;
  // Through another rule and a nullable prefix.
  const std::string e2 = error_of("root ::= a\na ::= ws b \"x\"\nb ::= a | \"y\"\nws ::= \" \"*");
  EXPECT_NE(e2.find("left-recursive"), std::string::npos) << e2;
  // Right recursion is fine.
  EXPECT_EQ(error_of("root ::= \"(\" root \")\" | \"x\""), "");
}

TEST(Gbnf, EmptyLanguageIsRefused) {
  const std::string e = error_of("root ::= \"a\" loop\nloop ::= \"b\" loop");
  EXPECT_NE(e.find("empty language"), std::string::npos) << e;
  EXPECT_NE(e.find("'loop'"), std::string::npos) << e;
  // A dead alternative alone is pruned, not an error.
  EXPECT_TRUE(gbnf_accepts("root ::= \"a\" | loop\nloop ::= \"b\" loop", "a"));
}

TEST(Gbnf, HostileInputsFailCleanly) {
  std::string deep = "root ::= ";
  for (int i = 0; i < 5000; ++i) deep += "(";
  EXPECT_NE(error_of(deep).find("nested deeper"), std::string::npos);
  std::string chain;
  for (int i = 0; i < 3000; ++i)
    chain += "r" + std::to_string(i) + " ::= \"x\" r" + std::to_string(i + 1) + "\n";
  chain += "r3000 ::= \"y\"\nroot ::= r0\n";
  EXPECT_EQ(error_of(chain), "");  // long rule chains compile without recursion
  EXPECT_NE(error_of("root ::= (\"a\"{4000}){4000}").find("too large"), std::string::npos);
  EXPECT_NE(error_of(std::string(2 << 20, ' ')).find("bytes; at most"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"?????").find("more than 4 repetition operators"),
            std::string::npos);
}

}  // namespace
}  // namespace packinfer
