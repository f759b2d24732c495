// JSON Schema -> grammar: numeric ranges checked value by value, string lengths and formats,
// object and array shapes, and every refusal naming its keyword.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "grammar/grammar_cache.h"
#include "grammar/json_numbers.h"
#include "grammar/json_schema.h"
#include "packinfer/error.h"
#include "support/grammar_helpers.h"

namespace packinfer {
namespace {

bool schema_accepts(const std::string& schema, const std::string& text) {
  return test::gbnf_accepts(grammar::json_schema_gbnf(schema), text);
}

std::string schema_error(const std::string& schema) {
  try {
    StructuredOutput spec;
    spec.kind = StructuredOutput::Kind::JsonSchema;
    spec.text = schema;
    grammar::compile_source(spec);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

// Canonical JSON text of n / 10^scale (never "-0").
std::string decimal_text(int64_t n, int scale) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  if (scale > 0) {
    while (static_cast<int>(digits.size()) <= scale) digits = "0" + digits;
    digits.insert(digits.size() - static_cast<size_t>(scale), ".");
  }
  return (n < 0 ? "-" : "") + digits;
}

TEST(JsonSchemaNumbers, IntegerRangesExactly) {
  struct Case {
    const char* bounds;
    int64_t lo, hi;  // inclusive, as integers
  };
  const Case cases[] = {
      {R"("minimum": 0, "maximum": 150)", 0, 150},
      {R"("minimum": -37, "maximum": 212)", -37, 212},
      {R"("minimum": -250, "maximum": -3)", -250, -3},
      {R"("exclusiveMinimum": 9, "exclusiveMaximum": 100)", 10, 99},
      {R"("minimum": 1.5, "maximum": 7.5)", 2, 7},
      {R"("minimum": -2.5, "exclusiveMaximum": 3.0)", -2, 2},
      {R"("minimum": 5, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": true)", 6, 8},
      {R"("minimum": 7, "maximum": 7)", 7, 7},
      // An unbounded side stops at 15 digits (exact in a double).
      {R"("minimum": 99)", 99, 999999999999999},
      {R"("maximum": -99)", -999999999999999, -99},
      {R"("minimum": 0)", 0, 999999999999999},
  };
  for (const Case& c : cases) {
    const std::string schema = std::string(R"({"type": "integer", )") + c.bounds + "}";
    const std::string gbnf = grammar::json_schema_gbnf(schema);
    for (int64_t v = -400; v <= 400; ++v) {
      ASSERT_EQ(test::gbnf_accepts(gbnf, std::to_string(v)), v >= c.lo && v <= c.hi)
          << schema << " value " << v;
    }
    for (int64_t v : {c.lo, c.hi, c.lo - 1, c.hi + 1, int64_t{123456}, int64_t{-123456}}) {
      ASSERT_EQ(test::gbnf_accepts(gbnf, std::to_string(v)), v >= c.lo && v <= c.hi)
          << schema << " value " << v;
    }
    EXPECT_FALSE(test::gbnf_accepts(gbnf, "07"));
    EXPECT_FALSE(test::gbnf_accepts(gbnf, "-0"));
    EXPECT_FALSE(test::gbnf_accepts(gbnf, "1.0"));
  }
}

TEST(JsonSchemaNumbers, NumberRangesExactly) {
  // Bounds and values are multiples of 1/1000, compared as integers.
  std::mt19937_64 rng(3);
  for (int round = 0; round < 40; ++round) {
    int64_t lo = static_cast<int64_t>(rng() % 200000) - 100000;
    int64_t hi = lo + static_cast<int64_t>(rng() % 100000);
    const bool lo_ex = rng() % 2, hi_ex = rng() % 2;
    const int lo_scale = static_cast<int>(rng() % 4), hi_scale = static_cast<int>(rng() % 4);
    // Round the bounds to their scale so their texts are exact.
    auto round_to = [](int64_t v, int scale) {
      int64_t unit = 1;
      for (int k = scale; k < 3; ++k) unit *= 10;
      return v / unit * unit;
    };
    lo = round_to(lo, lo_scale);
    hi = round_to(hi, hi_scale);
    if (lo > hi || (lo == hi && (lo_ex || hi_ex))) continue;
    const std::string schema =
        std::string(R"({"type": "number", ")") + (lo_ex ? "exclusiveMinimum" : "minimum") +
        "\": " + decimal_text(lo, 3) + ", \"" + (hi_ex ? "exclusiveMaximum" : "maximum") +
        "\": " + decimal_text(hi, 3) + "}";
    const std::string gbnf = grammar::json_schema_gbnf(schema);
    auto in = [&](int64_t v) { return (lo_ex ? v > lo : v >= lo) && (hi_ex ? v < hi : v <= hi); };
    for (int k = 0; k < 300; ++k) {
      int64_t v;
      switch (k % 4) {
        case 0:
          v = lo + static_cast<int64_t>(rng() % 7) - 3;
          break;
        case 1:
          v = hi + static_cast<int64_t>(rng() % 7) - 3;
          break;
        default:
          v = static_cast<int64_t>(rng() % 240000) - 120000;
      }
      if (v == 0) continue;
      const int scale = static_cast<int>(rng() % 4);
      // Write v with `scale` fraction digits when exact, plus trailing zeros sometimes.
      int64_t unit = 1;
      for (int s = scale; s < 3; ++s) unit *= 10;
      if (v % unit != 0) v = v / unit * unit;
      if (v == 0) continue;
      std::string text = decimal_text(v / unit, scale);
      if (rng() % 5 == 0) text += scale == 0 ? ".0" : "0";
      ASSERT_EQ(test::gbnf_accepts(gbnf, text), in(v)) << schema << " value " << text;
    }
    // Zero is written "0" (or "0.0").
    ASSERT_EQ(test::gbnf_accepts(gbnf, "0"), in(0)) << schema;
    ASSERT_EQ(test::gbnf_accepts(gbnf, "0.0"), in(0)) << schema;
    EXPECT_FALSE(test::gbnf_accepts(gbnf, "1e2")) << schema;
  }
}

TEST(JsonSchemaNumbers, DecimalsParseExactly) {
  auto d = [](const char* t) { return grammar::to_string(*grammar::parse_decimal(t)); };
  EXPECT_EQ(d("0"), "0");
  EXPECT_EQ(d("-0.0"), "0");
  EXPECT_EQ(d("12.500"), "12.5");
  EXPECT_EQ(d("1e3"), "1000");
  EXPECT_EQ(d("-1.25E-2"), "-0.0125");
  EXPECT_EQ(d("1.0000000000000001e-05"), "0.000010000000000000001");
  EXPECT_FALSE(grammar::parse_decimal("1e999"));
  EXPECT_FALSE(grammar::parse_decimal("01x"));
  EXPECT_THROW(grammar::json_schema_gbnf(R"({"type":"integer","minimum":5,"maximum":4})"),
               InvalidArgument);
  EXPECT_THROW(grammar::json_schema_gbnf(R"({"type":"integer","minimum":4.5,"maximum":4.9})"),
               InvalidArgument);
  EXPECT_THROW(grammar::json_schema_gbnf(R"({"type":"number","exclusiveMinimum":1,"maximum":1})"),
               InvalidArgument);
}

TEST(JsonSchemaStrings, LengthsCountCharacters) {
  const std::string s = R"({"type": "string", "minLength": 2, "maxLength": 3})";
  EXPECT_FALSE(schema_accepts(s, R"("a")"));
  EXPECT_TRUE(schema_accepts(s, R"("ab")"));
  EXPECT_TRUE(schema_accepts(s, "\"\xC3\xA9\xC3\xA9\xC3\xA9\""));  // three characters, six bytes
  EXPECT_TRUE(schema_accepts(s, R"("\n\u00e9")"));                 // escapes count once
  EXPECT_FALSE(schema_accepts(s, R"("abcd")"));
  EXPECT_FALSE(schema_accepts(s, "\"a\nb\""));     // raw control character
  EXPECT_FALSE(schema_accepts(s, R"("\ud800")"));  // lone surrogate escape
  EXPECT_TRUE(schema_accepts(R"({"type":"string","maxLength":0})", R"("")"));
}

TEST(JsonSchemaStrings, Formats) {
  auto f = [](const char* format) {
    return std::string(R"({"type":"string","format":")") + format + "\"}";
  };
  EXPECT_TRUE(schema_accepts(f("date"), R"("2024-02-28")"));
  EXPECT_TRUE(schema_accepts(f("date"), R"("1999-12-31")"));
  EXPECT_FALSE(schema_accepts(f("date"), R"("2024-02-30")"));
  EXPECT_FALSE(schema_accepts(f("date"), R"("2024-04-31")"));
  EXPECT_FALSE(schema_accepts(f("date"), R"("2024-13-01")"));
  EXPECT_TRUE(schema_accepts(f("time"), R"("23:59:59Z")"));
  EXPECT_TRUE(schema_accepts(f("time"), R"("08:30:00.125+02:00")"));
  EXPECT_FALSE(schema_accepts(f("time"), R"("24:00:00Z")"));
  EXPECT_FALSE(schema_accepts(f("time"), R"("12:00:00")"));
  EXPECT_TRUE(schema_accepts(f("date-time"), R"("2024-06-01T12:00:00Z")"));
  EXPECT_TRUE(schema_accepts(f("uuid"), R"("123e4567-e89b-12d3-a456-426614174000")"));
  EXPECT_FALSE(schema_accepts(f("uuid"), R"("123e4567e89b12d3a456426614174000")"));
  EXPECT_TRUE(schema_accepts(f("ipv4"), R"("192.168.0.255")"));
  EXPECT_FALSE(schema_accepts(f("ipv4"), R"("256.1.1.1")"));
  EXPECT_NE(schema_error(f("email")).find("format 'email' is not supported"), std::string::npos);
}

TEST(JsonSchemaObjects, PropertyOrderRequiredAndOptional) {
  const std::string s =
      R"({"type":"object","properties":{"z":{"type":"integer"},"a":{"type":"boolean"},"m":{"type":"null"}},"required":["a"]})";
  EXPECT_TRUE(schema_accepts(s, R"({"a": true})"));
  EXPECT_TRUE(schema_accepts(s, R"({"z": 1, "a": false, "m": null})"));
  EXPECT_TRUE(schema_accepts(s, R"({"z": 1, "a": false})"));
  EXPECT_TRUE(schema_accepts(s, R"({"a": false, "m": null})"));
  EXPECT_FALSE(schema_accepts(s, R"({"a": false, "z": 1})"));  // properties order
  EXPECT_FALSE(schema_accepts(s, R"({"z": 1})"));              // "a" is required
  EXPECT_FALSE(schema_accepts(s, R"({"a": true, "q": 1})"));   // no extras unless allowed
  EXPECT_FALSE(schema_accepts(s, R"({"a":true})"));            // the format has ": "
}

TEST(JsonSchemaObjects, AdditionalProperties) {
  const std::string s =
      R"({"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":{"type":"string"}})";
  EXPECT_TRUE(schema_accepts(s, R"({})"));
  EXPECT_TRUE(schema_accepts(s, R"({"id": 1, "x": "y", "ida": "z"})"));
  EXPECT_TRUE(schema_accepts(s, R"({"i": "y"})"));
  EXPECT_FALSE(schema_accepts(s, R"({"id": 1, "id": "y"})"));  // never a declared name again
  EXPECT_FALSE(schema_accepts(s, R"({"x": 1})"));
  EXPECT_TRUE(schema_accepts(R"({"type":"object"})", R"({"any": [1, {"b": null}]})"));
  EXPECT_FALSE(schema_accepts(R"({"type":"object","additionalProperties":false})", R"({"a": 1})"));
  EXPECT_TRUE(schema_accepts(R"({"type":"object","additionalProperties":false})", R"({})"));
  // A required name with no declared schema takes the additional schema.
  EXPECT_TRUE(schema_accepts(
      R"({"type":"object","required":["k"],"additionalProperties":{"type":"integer"}})",
      R"({"k": 3})"));
  EXPECT_NE(schema_error(R"({"type":"object","required":["k"],"additionalProperties":false})")
                .find("required property 'k'"),
            std::string::npos);
}

TEST(JsonSchemaArrays, ItemsAndCounts) {
  const std::string s =
      R"({"type":"array","items":{"type":"integer","minimum":0,"maximum":9},"minItems":2,"maxItems":3})";
  EXPECT_FALSE(schema_accepts(s, "[1]"));
  EXPECT_TRUE(schema_accepts(s, "[1, 2]"));
  EXPECT_TRUE(schema_accepts(s, "[1, 2, 3]"));
  EXPECT_FALSE(schema_accepts(s, "[1, 2, 3, 4]"));
  EXPECT_FALSE(schema_accepts(s, "[1, 12]"));
  EXPECT_TRUE(schema_accepts(R"({"type":"array"})", R"([])"));
  EXPECT_TRUE(schema_accepts(R"({"type":"array","maxItems":0})", R"([])"));
}

TEST(JsonSchemaCombinators, EnumConstUnionsRefs) {
  EXPECT_TRUE(schema_accepts(R"({"enum":["a", 1, null, {"k": [true]}]})", R"({"k": [true]})"));
  EXPECT_FALSE(schema_accepts(R"({"enum":["a", 1]})", R"("b")"));
  EXPECT_TRUE(schema_accepts(R"({"type":"string","enum":["a", 1]})", R"("a")"));
  EXPECT_FALSE(schema_accepts(R"({"type":"string","enum":["a", 1]})", "1"));
  EXPECT_TRUE(schema_accepts(R"({"const":"x\"y"})", R"("x\"y")"));
  EXPECT_TRUE(schema_accepts(R"({"type":["string","null"],"maxLength":1})", "null"));
  EXPECT_FALSE(schema_accepts(R"({"type":["string","null"],"maxLength":1})", R"("ab")"));
  EXPECT_TRUE(schema_accepts(R"({"anyOf":[{"type":"integer"},{"type":"boolean"}]})", "true"));
  EXPECT_TRUE(schema_accepts(R"({"oneOf":[{"type":"integer"},{"type":"boolean"}]})", "12"));
  const std::string tree =
      R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
      "kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v"]}},"$ref":"#/$defs/node"})";
  EXPECT_TRUE(
      schema_accepts(tree, R"({"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": [{"v": 4}]}]})"));
  const std::string root_ref =
      R"({"type":"array","items":{"anyOf":[{"type":"integer"},{"$ref":"#"}]}})";
  EXPECT_TRUE(schema_accepts(root_ref, "[1, [2, []]]"));
  EXPECT_TRUE(schema_accepts(
      R"({"definitions":{"a":{"type":"null"}},"allOf":[{"$ref":"#/definitions/a"}]})", "null"));
  EXPECT_TRUE(schema_accepts("true", "[1]"));
  EXPECT_TRUE(schema_accepts(R"({"description":"anything","title":"x"})", "\"s\""));
}

TEST(JsonSchemaErrors, NameTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"type":"string","pattern":"^a"})", "keyword 'pattern' is not supported (at #)"},
      {R"({"type":"object","properties":{"a":{"type":"integer","multipleOf":2}}})",
       "keyword 'multipleOf' is not supported (at #/properties/a)"},
      {R"({"type":"object","minProperties":1})", "keyword 'minProperties'"},
      {R"({"type":"array","uniqueItems":true})", "uniqueItems"},
      {R"({"not":{}})", "keyword 'not'"},
      {R"({"if":{},"then":{}})", "keyword 'if'"},
      {R"({"x-custom": 1})", "keyword 'x-custom'"},
      {R"({"type":"strng"})", "unknown type 'strng'"},
      {R"({"$ref":"#/$defs/missing"})", "does not resolve"},
      {R"({"$ref":"http://example.com/s.json"})", "only local references"},
      {R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})",
       "cyclic $ref"},
      {R"({"$defs":{"n":{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}},"required":["next"]}},"$ref":"#/$defs/n"})",
       "no JSON value satisfies the schema"},
      {"false", "admits no value"},
      {R"({"allOf":[{"type":"integer"},{"minimum":1}]})", "'allOf' with more than one schema"},
      {R"({"type":"string","minLength":5,"maxLength":2})", "'maxLength' is below 'minLength'"},
      {R"({"type":"integer","minimum":10,"maximum":1})",
       "no integer satisfies minimum 10 and maximum 1"},
      {R"({"type":"array","items":[{"type":"integer"}]})", "'items' as an array"},
      {R"({"enum":[]})", "'enum' must be a non-empty array"},
      {R"({"type":"integer","enum":["a"]})", "no value of 'enum'/'const' has the schema's 'type'"},
      {"[1]", "a schema must be an object or a boolean"},
      {"{", "not valid JSON"},
      {R"({"type":"string","format":"date","maxLength":3})", "'format' together with"},
      {R"({"type":"integer","minimum":1e99})", "out of the supported range"},
  };
  for (const auto& [schema, expected] : cases) {
    const std::string e = schema_error(schema);
    EXPECT_NE(e.find(expected), std::string::npos) << schema << " -> " << e;
    EXPECT_EQ(e.rfind("json_schema: ", 0), 0u) << e;
  }
}

TEST(JsonSchemaErrors, HostileSchemasFailCleanly) {
  // Nested thousands deep, through properties and through items.
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += R"({"type":"object","properties":{"a":)";
  deep += "{}";
  for (int i = 0; i < 5000; ++i) deep += "}}";
  EXPECT_NE(schema_error(deep).find("nested deeper than"), std::string::npos);
  std::string items;
  for (int i = 0; i < 100000; ++i) items += R"({"items":)";
  items += "{}";
  for (int i = 0; i < 100000; ++i) items += "}";
  EXPECT_NE(schema_error(items).find("nested deeper than"), std::string::npos);
  // A deep const value.
  std::string value;
  for (int i = 0; i < 100000; ++i) value += "[";
  for (int i = 0; i < 100000; ++i) value += "]";
  EXPECT_NE(schema_error(R"({"const":)" + value + "}").find("nested deeper than"),
            std::string::npos);
  // A huge enum: refused beyond the limit, fine below it.
  std::string big = R"({"enum":[)";
  for (int i = 0; i < 20000; ++i)
    big += (i ? "," : "") + std::string("\"v") + std::to_string(i) + "\"";
  EXPECT_NE(schema_error(big + "]}").find("at most 8192"), std::string::npos);
  std::string ok = R"({"enum":[)";
  for (int i = 0; i < 5000; ++i)
    ok += (i ? "," : "") + std::string("\"value-") + std::to_string(i) + "\"";
  EXPECT_TRUE(schema_accepts(ok + "]}", "\"value-4321\""));
  // Long chains of $ref.
  std::string chain = R"({"$defs":{)";
  for (int i = 0; i < 2000; ++i) {
    chain += (i ? "," : "") + std::string("\"d") + std::to_string(i) +
             R"(":{"type":"array","items":{"$ref":"#/$defs/d)" + std::to_string(i + 1) + "\"}}";
  }
  chain += R"(,"d2000":{"type":"null"}},"$ref":"#/$defs/d0"})";
  EXPECT_NE(schema_error(chain).find("nested deeper than"), std::string::npos);
}

}  // namespace
}  // namespace packinfer
