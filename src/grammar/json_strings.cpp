#include "grammar/json_strings.h"

#include "packinfer/error.h"

namespace packinfer::grammar {
namespace {

constexpr const char* kHex = "[0-9a-fA-F]";

std::string date() {
  // Days per month without leap years (Feb 29 is left out rather than allowed in the wrong year).
  return "[1-9] [0-9]{3} \"-\" ((\"0\" [13578] | \"1\" [02]) \"-\" (\"0\" [1-9] | [12] [0-9] | "
         "\"3\" [01]) | (\"0\" [469] | \"11\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\") | \"02\" "
         "\"-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]))";
}

std::string time() {
  return "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? "
         "(\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])";
}

}  // namespace

std::string json_char_gbnf() {
  return std::string(
             "([^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" ([0-9a-cA-Ce-fE-F] ") +
         kHex + "{3} | [dD] [0-7] " + kHex + "{2})))";
}

std::string json_string_gbnf(int64_t min_len, std::optional<int64_t> max_len) {
  std::string rep;
  if (!max_len) {
    rep = min_len == 0 ? "*" : "{" + std::to_string(min_len) + ",}";
  } else if (*max_len == min_len) {
    rep = "{" + std::to_string(min_len) + "}";
  } else {
    rep = "{" + std::to_string(min_len) + "," + std::to_string(*max_len) + "}";
  }
  if (max_len && *max_len == 0) return "\"\\\"\\\"\"";
  return "\"\\\"\" " + json_char_gbnf() + rep + " \"\\\"\"";
}

const char* supported_formats() { return "date, time, date-time, uuid, ipv4"; }

std::string json_format_gbnf(std::string_view format) {
  std::string body;
  if (format == "date") {
    body = date();
  } else if (format == "time") {
    body = time();
  } else if (format == "date-time") {
    body = "(" + date() + ") \"T\" (" + time() + ")";
  } else if (format == "uuid") {
    body = std::string(kHex) + "{8} \"-\" " + kHex + "{4} \"-\" " + kHex + "{4} \"-\" " + kHex +
           "{4} \"-\" " + kHex + "{12}";
  } else if (format == "ipv4") {
    const std::string octet =
        "(\"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9] [0-9] | [0-9])";
    body = octet + " \".\" " + octet + " \".\" " + octet + " \".\" " + octet;
  } else {
    throw InvalidArgument("format '" + std::string(format) +
                          "' is not supported (supported: " + supported_formats() + ")");
  }
  return "\"\\\"\" " + body + " \"\\\"\"";
}

}  // namespace packinfer::grammar
