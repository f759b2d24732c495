#pragma once
// A context-free grammar as the GBNF parser produces it: rules whose bodies are expression trees
// over code-point classes, byte literals and rule references. Expressions live in one arena and
// refer to each other by index, so a grammar never owns a deep chain of nested objects (its
// destructor cannot recurse). rule_automaton.h compiles it into a byte-level automaton.
#include <cstdint>
#include <string>
#include <vector>

namespace packinfer::grammar {

// Code points [lo, hi], inclusive.
struct CodepointRange {
  uint32_t lo = 0;
  uint32_t hi = 0;
};

enum class ExprKind : uint8_t {
  Empty,    // matches ""
  Literal,  // the UTF-8 bytes in `text`
  Chars,    // one code point in `ranges` (sorted, disjoint, not adjacent)
  RuleRef,  // the rule `rule`
  Seq,      // children one after the other
  Alt,      // one of the children
  Repeat,   // children[0] between min and max times (max == kUnbounded: no limit)
};

inline constexpr int32_t kUnbounded = -1;

struct Expr {
  ExprKind kind = ExprKind::Empty;
  int32_t rule = -1;
  int32_t min = 0;
  int32_t max = 0;
  std::string text;
  std::vector<CodepointRange> ranges;
  std::vector<int32_t> children;
};

// Where something is in the grammar text (1-based), for error messages.
struct SourcePos {
  int32_t line = 0;
  int32_t column = 0;
};

struct Grammar {
  std::vector<Expr> exprs;
  std::vector<std::string> rule_names;
  std::vector<int32_t> rule_body;  // expression index per rule (-1: referenced, never defined)
  std::vector<SourcePos> rule_defined_at;
  std::vector<SourcePos> rule_first_used_at;
  int32_t root = -1;

  int32_t add(Expr e) {
    exprs.push_back(std::move(e));
    return static_cast<int32_t>(exprs.size()) - 1;
  }
};

// Every code point except the surrogates (which UTF-8 cannot carry): what "." and a negated class
// are relative to.
inline constexpr uint32_t kMaxCodepoint = 0x10FFFF;

// Sorts and merges ranges; drops surrogates (U+D800..U+DFFF), so every class is valid UTF-8.
std::vector<CodepointRange> normalize_ranges(std::vector<CodepointRange> ranges);
// The complement of normalized ranges within the valid code points.
std::vector<CodepointRange> complement_ranges(const std::vector<CodepointRange>& ranges);

}  // namespace packinfer::grammar
