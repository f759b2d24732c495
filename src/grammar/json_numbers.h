#pragma once
// JSON Schema numeric bounds as grammar: the decimal texts of the integers (or numbers) in a
// range, built digit by digit (as regex engines build numeric ranges), so a bound is enforced by
// the grammar itself and an out-of-range value can never be generated. Bounds are exact decimal
// strings of any size (1e300 or 0.1 are not rounded).
#include <optional>
#include <string>
#include <string_view>

namespace packinfer::grammar {

// |value| = int_digits.frac_digits; canonical: no leading zeros in int_digits (except "0"), no
// trailing zeros in frac_digits, and zero is never negative.
struct Decimal {
  bool negative = false;
  std::string int_digits = "0";
  std::string frac_digits;
};

// A JSON number's text ("-12.5e3") as a Decimal; nullopt for text that is not a JSON number or
// whose exponent puts it beyond 10^±64 (refused as a bound).
std::optional<Decimal> parse_decimal(std::string_view text);
int compare(const Decimal& a, const Decimal& b);
std::string to_string(const Decimal& d);

struct NumericBounds {
  std::optional<Decimal> min, max;
  bool min_exclusive = false;
  bool max_exclusive = false;
};

// GBNF expressions (no rule definitions). An unbounded side is limited to kMaxIntegerDigits
// digits before the point so values stay exact in a double. Throw InvalidArgument when no value
// is in range (the message names the bounds).
inline constexpr int kMaxIntegerDigits = 15;
inline constexpr int kMaxFractionDigits = 15;
std::string integer_gbnf(const NumericBounds& b);
// Numbers with a bound are written without exponent; without bounds an exponent of up to two
// digits is allowed.
std::string number_gbnf(const NumericBounds& b);

}  // namespace packinfer::grammar
