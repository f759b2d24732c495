#include "support/prometheus_text.h"

#include <gtest/gtest.h>

#include <sstream>

namespace packinfer::test {

std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    const size_t sp = line.rfind(' ');
    if (sp == std::string::npos || !line.starts_with("packinfer_")) {
      ADD_FAILURE() << "not a sample line: " << line;
      continue;
    }
    try {
      out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    } catch (const std::exception&) {
      ADD_FAILURE() << "not a number: " << line;
    }
  }
  return out;
}

}  // namespace packinfer::test
