#pragma once
// Reads a Prometheus text exposition back, for tests of /metrics.
#include <map>
#include <string>

namespace packinfer::test {

// "name{labels}" -> value for every sample line. Comment lines other than HELP and TYPE, lines
// without a value and metric names outside packinfer_ are test failures (ADD_FAILURE).
std::map<std::string, double> parse_prometheus(const std::string& text);

}  // namespace packinfer::test
