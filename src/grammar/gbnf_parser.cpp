#include "grammar/gbnf_parser.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "grammar/limits.h"
#include "packinfer/error.h"
#include "tokenizer/utf8.h"

namespace packinfer::grammar {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Grammar run() {
    if (s_.size() > limits::kMaxGrammarBytes) {
      throw InvalidArgument("grammar: the text has " + std::to_string(s_.size()) +
                            " bytes; at most " + std::to_string(limits::kMaxGrammarBytes) +
                            " are accepted");
    }
    if (!utf8::is_valid(s_)) throw InvalidArgument("grammar: the text is not valid UTF-8");
    skip_space(true);
    while (i_ < s_.size()) {
      parse_rule();
      skip_space(true);
    }
    finish();
    return std::move(g_);
  }

 private:
  [[noreturn]] void fail_at(size_t offset, const std::string& what) const {
    int32_t line = 1, column = 1;
    for (size_t k = 0; k < offset && k < s_.size(); ++k) {
      if (s_[k] == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<uint8_t>(s_[k]) & 0xC0) != 0x80) {
        ++column;  // columns count characters, not bytes
      }
    }
    throw InvalidArgument("grammar: line " + std::to_string(line) + ", column " +
                          std::to_string(column) + ": " + what);
  }
  [[noreturn]] void fail(const std::string& what) const { fail_at(i_, what); }

  SourcePos pos_of(size_t offset) const {
    SourcePos p{1, 1};
    for (size_t k = 0; k < offset && k < s_.size(); ++k) {
      if (s_[k] == '\n') {
        ++p.line;
        p.column = 1;
      } else if ((static_cast<uint8_t>(s_[k]) & 0xC0) != 0x80) {
        ++p.column;
      }
    }
    return p;
  }

  bool at_end() const { return i_ >= s_.size(); }
  char peek(size_t k = 0) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }

  // Spaces, tabs and comments; newlines too when `newlines` (inside groups, after `|`).
  void skip_space(bool newlines) {
    while (!at_end()) {
      const char c = s_[i_];
      if (c == ' ' || c == '\t') {
        ++i_;
      } else if (c == '#') {
        while (!at_end() && s_[i_] != '\n') ++i_;
      } else if (newlines && (c == '\n' || c == '\r')) {
        ++i_;
      } else if (c == '\r' && peek(1) == '\n') {
        return;  // a CRLF line end, seen as the newline by the caller
      } else {
        return;
      }
    }
  }

  std::string parse_name() {
    const size_t start = i_;
    while (!at_end() && is_name_char(s_[i_])) ++i_;
    if (i_ == start) fail("expected a rule name");
    return std::string(s_.substr(start, i_ - start));
  }

  int32_t rule_id(const std::string& name, size_t used_at) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    if (g_.rule_names.size() >= static_cast<size_t>(limits::kMaxRules)) {
      fail_at(used_at, "more than " + std::to_string(limits::kMaxRules) + " rules");
    }
    const int32_t id = static_cast<int32_t>(g_.rule_names.size());
    ids_.emplace(name, id);
    g_.rule_names.push_back(name);
    g_.rule_body.push_back(-1);
    g_.rule_defined_at.push_back({});
    g_.rule_first_used_at.push_back(pos_of(used_at));
    return id;
  }

  void parse_rule() {
    const size_t start = i_;
    const std::string name = parse_name();
    skip_space(false);
    if (s_.substr(i_, 3) != "::=") fail("expected '::=' after the rule name '" + name + "'");
    i_ += 3;
    const int32_t id = rule_id(name, start);
    if (g_.rule_body[id] >= 0) {
      const SourcePos& p = g_.rule_defined_at[id];
      fail_at(start, "rule '" + name + "' is defined twice (first at line " +
                         std::to_string(p.line) + ")");
    }
    g_.rule_defined_at[id] = pos_of(start);
    skip_space(true);  // the body may start on the next line
    const int32_t body = parse_alternates(0);
    g_.rule_body[id] = body;
    // The rule ends at a newline (or the end of the text).
    skip_space(false);
    if (!at_end() && s_[i_] != '\n' && s_[i_] != '\r') {
      fail(std::string("unexpected '") + s_[i_] + "' in rule '" + name + "'");
    }
  }

  // Alternatives separated by '|'. At depth 0 a newline ends the rule unless the next line
  // starts with '|'.
  int32_t parse_alternates(int depth) {
    std::vector<int32_t> alts;
    alts.push_back(parse_sequence(depth));
    for (;;) {
      const size_t save = i_;
      skip_space(true);
      if (peek() != '|') {
        i_ = save;
        break;
      }
      ++i_;
      skip_space(true);
      alts.push_back(parse_sequence(depth));
    }
    if (alts.size() == 1) return alts[0];
    Expr e;
    e.kind = ExprKind::Alt;
    e.children = std::move(alts);
    return g_.add(std::move(e));
  }

  int32_t parse_sequence(int depth) {
    std::vector<int32_t> items;
    int repeats = 0;  // operators on the last item: each one nests the expression a level deeper
    for (;;) {
      skip_space(depth > 0);
      if (at_end()) break;
      const char c = s_[i_];
      if (c == '|' || c == ')' || c == '\n' || c == '\r') break;
      if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (items.empty()) fail(std::string("'") + c + "' has nothing before it to repeat");
        if (++repeats > 4) fail("more than 4 repetition operators on one item");
        items.back() = parse_repetition(items.back());
        continue;
      }
      items.push_back(parse_primary(depth));
      repeats = 0;
    }
    if (items.size() == 1) return items[0];
    Expr e;
    e.kind = items.empty() ? ExprKind::Empty : ExprKind::Seq;
    e.children = std::move(items);
    return g_.add(std::move(e));
  }

  int32_t parse_repetition(int32_t item) {
    Expr e;
    e.kind = ExprKind::Repeat;
    e.children = {item};
    const char c = s_[i_++];
    if (c == '*') {
      e.min = 0, e.max = kUnbounded;
    } else if (c == '+') {
      e.min = 1, e.max = kUnbounded;
    } else if (c == '?') {
      e.min = 0, e.max = 1;
    } else {
      const size_t open = i_ - 1;
      skip_space(false);
      const bool has_min = std::isdigit(static_cast<unsigned char>(peek()));
      e.min = has_min ? parse_count() : 0;
      skip_space(false);
      if (peek() == '}') {
        if (!has_min) fail("expected a number in '{m,n}'");
        e.max = e.min;
      } else if (peek() == ',') {
        ++i_;
        skip_space(false);
        e.max = std::isdigit(static_cast<unsigned char>(peek())) ? parse_count() : kUnbounded;
        skip_space(false);
      } else {
        fail("expected ',' or '}' in a repetition '{m,n}'");
      }
      if (peek() != '}') fail("expected '}' to close the repetition");
      ++i_;
      if (e.max != kUnbounded && e.max < e.min) {
        fail_at(open, "repetition {" + std::to_string(e.min) + "," + std::to_string(e.max) +
                          "} has its maximum below its minimum");
      }
    }
    return g_.add(std::move(e));
  }

  int32_t parse_count() {
    int64_t v = 0;
    const size_t start = i_;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      v = v * 10 + (s_[i_++] - '0');
      if (v > limits::kMaxRepetition) {
        fail_at(start,
                "repetition count above the limit of " + std::to_string(limits::kMaxRepetition));
      }
    }
    return static_cast<int32_t>(v);
  }

  int32_t parse_primary(int depth) {
    const char c = s_[i_];
    if (c == '"') return parse_literal();
    if (c == '[') return parse_class();
    if (c == '.') {
      ++i_;
      Expr e;
      e.kind = ExprKind::Chars;
      e.ranges = normalize_ranges({{0, kMaxCodepoint}});
      return g_.add(std::move(e));
    }
    if (c == '(') {
      if (depth + 1 > limits::kMaxNesting) {
        fail("parentheses nested deeper than " + std::to_string(limits::kMaxNesting));
      }
      ++i_;
      skip_space(true);
      const int32_t inner = parse_alternates(depth + 1);
      skip_space(true);
      if (peek() != ')') fail("expected ')'");
      ++i_;
      return inner;
    }
    if (c == '<') fail("token references like <...> are not supported");
    if (c == '\'') fail("string literals use double quotes (\"...\")");
    if (is_name_char(c)) {
      const size_t start = i_;
      const std::string name = parse_name();
      // `name ::=` here means the previous rule did not end where it should have.
      const size_t save = i_;
      skip_space(false);
      if (s_.substr(i_, 3) == "::=") {
        fail_at(start, "a new rule '" + name +
                           "' starts in the middle of a rule (rules end at the "
                           "end of a line)");
      }
      i_ = save;
      Expr e;
      e.kind = ExprKind::RuleRef;
      e.rule = rule_id(name, start);
      return g_.add(std::move(e));
    }
    fail(std::string("unexpected character '") + c + "'");
  }

  // One character of a literal or class, escapes decoded. Returns the code point.
  uint32_t parse_char() {
    if (at_end()) fail("unexpected end of the text");
    if (s_[i_] == '\\') {
      const size_t start = i_;
      ++i_;
      if (at_end()) fail("unexpected end of the text after '\\'");
      const char e = s_[i_++];
      switch (e) {
        case 'n':
          return '\n';
        case 'r':
          return '\r';
        case 't':
          return '\t';
        case '\\':
          return '\\';
        case '"':
          return '"';
        case '\'':
          return '\'';
        case '[':
          return '[';
        case ']':
          return ']';
        case '-':
          return '-';
        case '^':
          return '^';
        case '/':
          return '/';
        case 'x':
          return parse_hex(2, start);
        case 'u':
          return parse_hex(4, start);
        case 'U':
          return parse_hex(8, start);
        default:
          fail_at(start, std::string("unknown escape '\\") + e + "'");
      }
    }
    // A raw character: its whole UTF-8 sequence (the text is valid UTF-8).
    const size_t n = utf8::sequence_length(static_cast<uint8_t>(s_[i_]));
    const std::vector<uint32_t> cps = utf8::decode_lenient(s_.substr(i_, n));
    i_ += n;
    return cps.empty() ? 0 : cps[0];
  }

  uint32_t parse_hex(int digits, size_t start) {
    uint32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      const int h = hex_value(peek());
      if (h < 0) fail_at(start, "expected " + std::to_string(digits) + " hex digits in an escape");
      v = v * 16 + static_cast<uint32_t>(h);
      ++i_;
    }
    if (v > kMaxCodepoint) fail_at(start, "escape beyond U+10FFFF");
    if (v >= 0xD800 && v <= 0xDFFF) fail_at(start, "escape of a surrogate (U+D800..U+DFFF)");
    return v;
  }

  int32_t parse_literal() {
    const size_t start = i_;
    ++i_;
    std::string bytes;
    for (;;) {
      if (at_end() || s_[i_] == '\n') fail_at(start, "unterminated string literal");
      if (s_[i_] == '"') break;
      utf8::append(bytes, parse_char());
    }
    ++i_;
    Expr e;
    e.kind = bytes.empty() ? ExprKind::Empty : ExprKind::Literal;
    e.text = std::move(bytes);
    return g_.add(std::move(e));
  }

  int32_t parse_class() {
    const size_t start = i_;
    ++i_;
    const bool negated = peek() == '^';
    if (negated) ++i_;
    std::vector<CodepointRange> ranges;
    for (;;) {
      if (at_end() || s_[i_] == '\n') fail_at(start, "unterminated character class");
      if (s_[i_] == ']') break;
      const uint32_t lo = parse_char();
      uint32_t hi = lo;
      if (peek() == '-' && peek(1) != ']' && peek(1) != '\0') {
        ++i_;
        hi = parse_char();
        if (hi < lo) fail_at(start, "character range with its end before its start");
      }
      ranges.push_back({lo, hi});
    }
    ++i_;
    ranges = normalize_ranges(std::move(ranges));
    if (negated) ranges = complement_ranges(ranges);
    if (ranges.empty()) fail_at(start, "character class that matches no character");
    Expr e;
    e.kind = ExprKind::Chars;
    e.ranges = std::move(ranges);
    return g_.add(std::move(e));
  }

  void finish() {
    for (size_t r = 0; r < g_.rule_names.size(); ++r) {
      if (g_.rule_body[r] < 0) {
        const SourcePos& p = g_.rule_first_used_at[r];
        throw InvalidArgument("grammar: line " + std::to_string(p.line) + ", column " +
                              std::to_string(p.column) + ": rule '" + g_.rule_names[r] +
                              "' is used but never defined");
      }
    }
    auto root = ids_.find("root");
    if (root == ids_.end()) throw InvalidArgument("grammar: there is no rule named 'root'");
    g_.root = root->second;
  }

  std::string_view s_;
  size_t i_ = 0;
  Grammar g_;
  std::unordered_map<std::string, int32_t> ids_;
};

}  // namespace

Grammar parse_gbnf(std::string_view text) { return Parser(text).run(); }

}  // namespace packinfer::grammar
