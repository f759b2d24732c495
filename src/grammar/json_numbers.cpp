#include "grammar/json_numbers.h"

#include <vector>

#include "packinfer/error.h"

namespace packinfer::grammar {
namespace {

using Alts = std::vector<std::string>;  // alternatives, each a GBNF sequence ("" = empty text)

const std::string kTail = "[0-9]{0," + std::to_string(kMaxFractionDigits) + "}";
const std::string kZeros = "\"0\"{0," + std::to_string(kMaxFractionDigits) + "}";
const std::string kNonZero = kZeros + " [1-9] " + kTail;  // digits with a nonzero one, one parse

std::string lit(std::string_view digits) { return "\"" + std::string(digits) + "\""; }
std::string cls(char a, char b) {
  return a == b ? lit(std::string(1, a)) : "[" + std::string(1, a) + "-" + std::string(1, b) + "]";
}
std::string seq(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + " " + b;
}
std::string group(const Alts& alts) {
  if (alts.size() == 1) return alts[0].empty() ? "\"\"" : alts[0];
  std::string s = "(";
  for (size_t i = 0; i < alts.size(); ++i) {
    s += i ? " | " : "";
    s += alts[i].empty() ? "\"\"" : alts[i];
  }
  return s + ")";
}
void prefix_all(const std::string& p, const Alts& in, Alts& out) {
  for (const std::string& s : in) out.push_back(seq(p, s));
}
bool all_of(std::string_view s, char c) { return s.find_first_not_of(c) == std::string_view::npos; }

// Digit strings of equal length n between a and b (a <= b, leading zeros allowed).
Alts same_length(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n == 0) return {""};
  if (a == b) return {lit(a)};
  Alts out;
  if (a[0] == b[0]) {
    prefix_all(lit(a.substr(0, 1)), same_length(a.substr(1), b.substr(1)), out);
    return out;
  }
  const std::string nines(n - 1, '9'), zeros(n - 1, '0');
  const std::string rest = n > 1 ? "[0-9]{" + std::to_string(n - 1) + "}" : "";
  char low = a[0], high = b[0];
  if (!all_of(a.substr(1), '0')) {
    prefix_all(lit(a.substr(0, 1)), same_length(a.substr(1), nines), out);
    ++low;
  }
  if (!all_of(b.substr(1), '9')) {
    prefix_all(lit(b.substr(0, 1)), same_length(zeros, b.substr(1)), out);
    --high;
  }
  if (low <= high) out.push_back(seq(cls(low, high), rest));
  return out;
}

// Canonical texts of the integers in [lo, hi] (hi empty: unbounded, up to `cap` digits).
std::string uint_range(const std::string& lo, const std::string& hi) {
  const size_t cap = std::max(static_cast<size_t>(kMaxIntegerDigits), lo.size());
  const size_t top = hi.empty() ? cap : hi.size();
  Alts alts;
  for (size_t len = lo.size(); len <= top; ++len) {
    const std::string a = len == lo.size() ? lo : "1" + std::string(len - 1, '0');
    if (hi.empty() && len > lo.size()) {
      // Every longer length at once.
      alts.push_back("[1-9] [0-9]{" + std::to_string(len - 1) + "," + std::to_string(cap - 1) +
                     "}");
      break;
    }
    const std::string b = len == hi.size() ? hi : std::string(len, '9');
    for (std::string& s : same_length(a, b)) alts.push_back(std::move(s));
  }
  return group(alts);
}

std::string increment(std::string d) {
  for (size_t i = d.size(); i-- > 0;) {
    if (d[i] != '9') {
      ++d[i];
      return d;
    }
    d[i] = '0';
  }
  return "1" + d;
}

std::string decrement(std::string d) {  // d > 0
  for (size_t i = d.size(); i-- > 0;) {
    if (d[i] != '0') {
      --d[i];
      break;
    }
    d[i] = '9';
  }
  const size_t nz = d.find_first_not_of('0');
  return nz == std::string::npos ? "0" : d.substr(nz);
}

Decimal integer(bool negative, std::string digits) {
  Decimal d;
  d.int_digits = std::move(digits);
  d.negative = negative && d.int_digits != "0";
  return d;
}
Decimal floor_of(const Decimal& d) {
  if (d.frac_digits.empty()) return d;
  return d.negative ? integer(true, increment(d.int_digits)) : integer(false, d.int_digits);
}
Decimal ceil_of(const Decimal& d) {
  if (d.frac_digits.empty()) return d;
  return d.negative ? integer(true, d.int_digits) : integer(false, increment(d.int_digits));
}
Decimal plus_one(const Decimal& i) {
  return i.negative ? integer(true, decrement(i.int_digits))
                    : integer(false, increment(i.int_digits));
}
Decimal minus_one(const Decimal& i) {
  if (i.negative) return integer(true, increment(i.int_digits));
  return i.int_digits == "0" ? integer(true, "1") : integer(false, decrement(i.int_digits));
}

// --- fractions: digit strings S after the point, compared as 0.S -------------------------------
// Each function gives the alternatives for S; "Plus" variants only non-empty S. `strict` makes
// a bound exclusive. Bounds g are canonical (no trailing zeros; empty = 0).

Alts ge_plus(std::string_view g, bool strict);
Alts le_plus(std::string_view g, bool strict);

Alts ge(std::string_view g, bool strict) {  // 0.S >= 0.g (>), S may be empty
  if (g.empty()) return strict ? Alts{kNonZero} : Alts{kTail};
  return ge_plus(g, strict);
}
Alts ge_plus(std::string_view g, bool strict) {
  if (g.empty()) return strict ? Alts{kNonZero} : Alts{"[0-9] " + kTail};
  Alts out;
  const char d = g[0];
  if (d < '9') out.push_back(seq(cls(static_cast<char>(d + 1), '9'), kTail));
  prefix_all(lit(g.substr(0, 1)), ge(g.substr(1), strict), out);
  return out;
}
Alts le(std::string_view g, bool strict) {  // 0.S <= 0.g (<), S may be empty
  if (g.empty()) return strict ? Alts{} : Alts{kZeros};
  Alts out = {""};
  for (std::string& s : le_plus(g, strict)) out.push_back(std::move(s));
  return out;
}
Alts le_plus(std::string_view g, bool strict) {
  if (g.empty()) return strict ? Alts{} : Alts{"\"0\" " + kZeros};
  Alts out;
  const char d = g[0];
  if (d > '0') out.push_back(seq(cls('0', static_cast<char>(d - 1)), kTail));
  prefix_all(lit(g.substr(0, 1)), le(g.substr(1), strict), out);
  return out;
}
// 0 < 0.S <= 0.g (<), S non-empty; g non-empty.
Alts positive_le(std::string_view g, bool strict) {
  Alts out;
  const char d = g[0];
  if (d >= '2') out.push_back(seq(cls('1', static_cast<char>(d - 1)), kTail));
  if (d >= '1') {
    out.push_back("\"0\" " + kNonZero);
    prefix_all(lit(g.substr(0, 1)), le(g.substr(1), strict), out);
  } else {
    prefix_all("\"0\"", positive_le(g.substr(1), strict), out);
  }
  return out;
}
Alts between_plus(std::string_view a, bool sa, std::string_view b, bool sb);
bool empty_between(std::string_view a, bool sa, std::string_view b, bool sb) {
  return a.empty() && !sa && (!b.empty() || !sb);
}
Alts between(std::string_view a, bool sa, std::string_view b, bool sb) {
  Alts out;
  if (empty_between(a, sa, b, sb)) out.push_back("");
  for (std::string& s : between_plus(a, sa, b, sb)) out.push_back(std::move(s));
  return out;
}
// 0.a <= 0.S <= 0.b (each bound possibly strict), S non-empty, 0.a <= 0.b.
Alts between_plus(std::string_view a, bool sa, std::string_view b, bool sb) {
  if (a.empty()) return sa ? (b.empty() ? Alts{} : positive_le(b, sb)) : le_plus(b, sb);
  Alts out;
  if (a[0] == b[0]) {
    prefix_all(lit(a.substr(0, 1)), between(a.substr(1), sa, b.substr(1), sb), out);
    return out;
  }
  prefix_all(lit(a.substr(0, 1)), ge(a.substr(1), sa), out);
  if (a[0] + 1 <= b[0] - 1)
    out.push_back(seq(cls(static_cast<char>(a[0] + 1), static_cast<char>(b[0] - 1)), kTail));
  prefix_all(lit(b.substr(0, 1)), le(b.substr(1), sb), out);
  return out;
}

// The fraction part of a number whose integer part is fixed: "." S for the S allowed, plus the
// bare integer when `bare` (its value qualifies). Empty optional: no text qualifies.
std::optional<std::string> fraction(bool bare, const Alts& plus) {
  if (plus.empty()) return bare ? std::optional<std::string>("") : std::nullopt;
  const std::string dot = "\".\" " + group(plus);
  return bare ? "(" + dot + ")?" : dot;
}

// Non-negative numbers between lo and hi (hi absent: unbounded); the caller ensures the range
// is not empty.
std::string magnitudes(const Decimal& lo, bool lo_strict, const std::optional<Decimal>& hi,
                       bool hi_strict) {
  const std::string any_fraction = "(\".\" [0-9]{1," + std::to_string(kMaxFractionDigits) + "})?";
  Alts alts;
  auto add = [&alts](const std::string& int_part, const std::optional<std::string>& frac) {
    if (frac) alts.push_back(seq(int_part, *frac));
  };
  const std::string& li = lo.int_digits;
  const std::string& lf = lo.frac_digits;
  if (hi && hi->int_digits == li) {
    const std::string& hf = hi->frac_digits;
    add(lit(li), fraction(empty_between(lf, lo_strict, hf, hi_strict),
                          between_plus(lf, lo_strict, hf, hi_strict)));
    return group(alts);
  }
  add(lit(li), fraction(lf.empty() && !lo_strict, ge_plus(lf, lo_strict)));
  const std::string mid_lo = increment(li);
  if (!hi) {
    alts.push_back(seq(uint_range(mid_lo, ""), any_fraction));
  } else {
    const std::string& hi_int = hi->int_digits;
    if (hi_int != mid_lo) alts.push_back(seq(uint_range(mid_lo, decrement(hi_int)), any_fraction));
    const std::string& hf = hi->frac_digits;
    add(lit(hi_int), fraction(!hf.empty() || !hi_strict, le_plus(hf, hi_strict)));
  }
  return group(alts);
}

std::string describe(const NumericBounds& b) {
  std::string s;
  if (b.min)
    s += std::string(b.min_exclusive ? "exclusiveMinimum " : "minimum ") + to_string(*b.min);
  if (b.max) {
    s += s.empty() ? "" : " and ";
    s += std::string(b.max_exclusive ? "exclusiveMaximum " : "maximum ") + to_string(*b.max);
  }
  return s;
}

}  // namespace

std::optional<Decimal> parse_decimal(std::string_view t) {
  size_t i = 0;
  Decimal d;
  bool neg = false;
  if (i < t.size() && t[i] == '-') neg = true, ++i;
  std::string digits;
  const size_t int_start = i;
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) digits += t[i++];
  if (i == int_start) return std::nullopt;
  int64_t point = static_cast<int64_t>(digits.size());
  if (i < t.size() && t[i] == '.') {
    ++i;
    const size_t f = i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) digits += t[i++];
    if (i == f) return std::nullopt;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) eneg = t[i++] == '-';
    int64_t e = 0;
    const size_t s = i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) {
      e = e * 10 + (t[i++] - '0');
      if (e > 1000) return std::nullopt;
    }
    if (i == s) return std::nullopt;
    point += eneg ? -e : e;
  }
  if (i != t.size()) return std::nullopt;
  // Strip to the significant digits, then place the point.
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return Decimal{};  // zero
  point -= static_cast<int64_t>(first);
  digits.erase(0, first);
  if (point > 64 || point < -64) return std::nullopt;
  if (point <= 0) {
    d.int_digits = "0";
    d.frac_digits = std::string(static_cast<size_t>(-point), '0') + digits;
  } else if (point >= static_cast<int64_t>(digits.size())) {
    d.int_digits = digits + std::string(static_cast<size_t>(point) - digits.size(), '0');
  } else {
    d.int_digits = digits.substr(0, static_cast<size_t>(point));
    d.frac_digits = digits.substr(static_cast<size_t>(point));
  }
  while (!d.frac_digits.empty() && d.frac_digits.back() == '0') d.frac_digits.pop_back();
  d.negative = neg;
  return d;
}

int compare(const Decimal& a, const Decimal& b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  int mag;
  if (a.int_digits.size() != b.int_digits.size()) {
    mag = a.int_digits.size() < b.int_digits.size() ? -1 : 1;
  } else {
    const int c = a.int_digits.compare(b.int_digits);
    const int f = a.frac_digits.compare(b.frac_digits);
    mag = c != 0 ? (c < 0 ? -1 : 1) : f != 0 ? (f < 0 ? -1 : 1) : 0;
  }
  return a.negative ? -mag : mag;
}

std::string to_string(const Decimal& d) {
  return (d.negative ? "-" : "") + d.int_digits +
         (d.frac_digits.empty() ? "" : "." + d.frac_digits);
}

std::string integer_gbnf(const NumericBounds& b) {
  std::optional<Decimal> lo, hi;
  if (b.min) lo = b.min_exclusive ? plus_one(floor_of(*b.min)) : ceil_of(*b.min);
  if (b.max) hi = b.max_exclusive ? minus_one(ceil_of(*b.max)) : floor_of(*b.max);
  if (lo && hi && compare(*lo, *hi) > 0) {
    throw InvalidArgument("no integer satisfies " + describe(b));
  }
  Alts alts;
  if (!lo || lo->negative) {
    // Negative values: "-" and a magnitude (never "-0").
    const std::string mag_lo = hi && hi->negative ? hi->int_digits : "1";
    const std::string mag_hi = lo ? lo->int_digits : "";
    alts.push_back("\"-\" " + uint_range(mag_lo, mag_hi));
  }
  if (!hi || !hi->negative) {
    const std::string n_lo = lo && !lo->negative ? lo->int_digits : "0";
    alts.push_back(uint_range(n_lo, hi ? hi->int_digits : ""));
  }
  return group(alts);
}

std::string number_gbnf(const NumericBounds& b) {
  if (!b.min && !b.max) {
    return "\"-\"? (\"0\" | [1-9] [0-9]{0," + std::to_string(kMaxIntegerDigits - 1) +
           "}) (\".\" [0-9]{1," + std::to_string(kMaxFractionDigits) +
           "})? ([eE] [-+]? [0-9]{1,2})?";
  }
  if (b.min && b.max) {
    const int c = compare(*b.min, *b.max);
    if (c > 0 || (c == 0 && (b.min_exclusive || b.max_exclusive))) {
      throw InvalidArgument("no number satisfies " + describe(b));
    }
  }
  const Decimal zero;
  Alts alts;
  if (!b.min || b.min->negative) {
    // Negative values v in [min, max) as magnitudes -v: (|max| or 0, |min|].
    Decimal mag_lo = zero;
    bool lo_strict = true;  // never "-0"
    if (b.max && b.max->negative) {
      mag_lo = *b.max;
      mag_lo.negative = false;
      lo_strict = b.max_exclusive;
    }
    std::optional<Decimal> mag_hi;
    if (b.min) {
      mag_hi = *b.min;
      mag_hi->negative = false;
    }
    alts.push_back("\"-\" " + magnitudes(mag_lo, lo_strict, mag_hi, b.min_exclusive));
  }
  const bool max_nonneg = !b.max || !b.max->negative;
  const bool only_zero_excluded = b.max && !b.max->negative && b.max->int_digits == "0" &&
                                  b.max->frac_digits.empty() && b.max_exclusive;
  if (max_nonneg && !only_zero_excluded) {
    Decimal lo = zero;
    bool lo_strict = false;
    if (b.min && !b.min->negative) {
      lo = *b.min;
      lo_strict = b.min_exclusive;
    }
    alts.push_back(magnitudes(lo, lo_strict, b.max, b.max_exclusive));
  }
  return group(alts);
}

}  // namespace packinfer::grammar
