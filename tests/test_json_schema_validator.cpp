// The tests' own JSON Schema validator (tests/support/json_schema_validator.h) must catch what it
// is there to catch, or the structured-output tests would pass vacuously.
#include <gtest/gtest.h>

#include "support/json_schema_validator.h"

namespace packinfer::test {
namespace {

using ojson = nlohmann::ordered_json;

bool valid(const char* schema, const char* text) {
  return validate_json_text(text, ojson::parse(schema)).empty();
}
bool prefix_ok(const char* schema, const char* text) {
  return validate_json_prefix(text, ojson::parse(schema)).empty();
}

TEST(TestValidator, Types) {
  EXPECT_TRUE(valid(R"({"type":"integer"})", "3"));
  EXPECT_TRUE(valid(R"({"type":"integer"})", "3.0"));
  EXPECT_FALSE(valid(R"({"type":"integer"})", "3.5"));
  EXPECT_FALSE(valid(R"({"type":"integer"})", "\"3\""));
  EXPECT_TRUE(valid(R"({"type":["string","null"]})", "null"));
  EXPECT_FALSE(valid(R"({"type":["string","null"]})", "false"));
  EXPECT_FALSE(valid(R"({"type":"object"})", "[]"));
  EXPECT_FALSE(valid(R"({})", "{"));
}

TEST(TestValidator, NumbersAreComparedExactly) {
  EXPECT_TRUE(valid(R"({"exclusiveMinimum": 1})", "1.0000000000000000001"));
  EXPECT_FALSE(valid(R"({"exclusiveMinimum": 1})", "1.0000000000000000000"));
  EXPECT_FALSE(valid(R"({"exclusiveMaximum": 2})", "2e0"));
  EXPECT_TRUE(valid(R"({"exclusiveMaximum": 2})", "1.99999999999999999999"));
  EXPECT_TRUE(valid(R"({"minimum": -1.5, "maximum": 0.25})", "-1.5"));
  EXPECT_FALSE(valid(R"({"minimum": -1.5, "maximum": 0.25})", "-1.51"));
  EXPECT_FALSE(valid(R"({"minimum": -1.5, "maximum": 0.25})", "0.2500001"));
  EXPECT_FALSE(valid(R"({"minimum": 5, "exclusiveMinimum": true})", "5"));
  EXPECT_TRUE(valid(R"({"type":"array","items":{"maximum":3}})", "[1, 2.5, 3]"));
  EXPECT_FALSE(valid(R"({"type":"array","items":{"maximum":3}})", "[1, 2.5, 3.1]"));
}

TEST(TestValidator, StringsObjectsArraysAndCombinators) {
  EXPECT_FALSE(valid(R"({"maxLength":2})", "\"\xC3\xA9\xC3\xA9\xC3\xA9\""));
  EXPECT_TRUE(valid(R"({"maxLength":3})", "\"\xC3\xA9\xC3\xA9\xC3\xA9\""));
  EXPECT_FALSE(valid(R"({"format":"date"})", "\"2023-02-29\""));
  EXPECT_TRUE(valid(R"({"format":"date"})", "\"2024-02-29\""));
  EXPECT_FALSE(valid(R"({"format":"ipv4"})", "\"01.2.3.4\""));
  EXPECT_FALSE(valid(R"({"format":"email"})", "\"a@b.c\""));  // unknown formats never pass
  EXPECT_FALSE(valid(R"({"required":["a"]})", "{}"));
  EXPECT_FALSE(
      valid(R"({"properties":{"a":{"type":"null"}},"additionalProperties":false})", R"({"b": 1})"));
  EXPECT_FALSE(valid(R"({"additionalProperties":{"type":"integer"}})", R"({"b": "x"})"));
  EXPECT_FALSE(valid(R"({"minItems":2})", "[1]"));
  EXPECT_FALSE(valid(R"({"enum":[1,"a"]})", "2"));
  EXPECT_FALSE(valid(R"({"const":{"a":1}})", R"({"a": 2})"));
  EXPECT_FALSE(valid(R"({"oneOf":[{"type":"integer"},{"minimum":0}]})", "3"));
  EXPECT_TRUE(valid(R"({"anyOf":[{"type":"integer"},{"minimum":0}]})", "3"));
  EXPECT_FALSE(valid(R"({"$defs":{"p":{"type":"integer"}},"$ref":"#/$defs/p"})", "true"));
  EXPECT_FALSE(valid(R"({"pattern":"a"})", "\"a\""));  // refused keywords never pass
}

TEST(TestValidator, Prefixes) {
  const char* s =
      R"({"type":"object","properties":{"a":{"type":"integer","maximum":5},"b":{"type":"string","maxLength":3}},"additionalProperties":false})";
  EXPECT_TRUE(prefix_ok(s, R"({"a": 3, "b": "x)"));
  EXPECT_TRUE(prefix_ok(s, R"({"a": 12)"));  // the number may still go on... as 12 it is cut
  EXPECT_FALSE(prefix_ok(s, R"({"a": 12, )"));
  EXPECT_FALSE(prefix_ok(s, R"({"a": 3, "c")"));
  EXPECT_FALSE(prefix_ok(s, R"({"a": 3, "b": "xyzw)"));
  EXPECT_FALSE(prefix_ok(s, R"({"a" 3)"));
  EXPECT_TRUE(
      prefix_ok(R"({"type":"array","items":{"type":"boolean"},"maxItems":2})", "[true, fa"));
  EXPECT_FALSE(
      prefix_ok(R"({"type":"array","items":{"type":"boolean"},"maxItems":2})", "[true, false, "));
  EXPECT_FALSE(prefix_ok(R"({"type":"array","items":{"type":"boolean"}})", "[1, "));
  EXPECT_FALSE(prefix_ok(R"({"type":"object"})", "{} x"));
}

}  // namespace
}  // namespace packinfer::test
