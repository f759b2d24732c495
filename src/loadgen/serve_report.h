#pragma once
// Output of `packinfer bench serve`: what ran, the tables (one row per configuration), the JSON
// list and the SVG charts, all from the same measured results.
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loadgen/rss_sampler.h"
#include "loadgen/serve_metrics.h"

namespace packinfer::loadgen {

struct ServeRunInfo {
  std::string model;     // the model file when the bench starts the server, else ""
  std::string workload;  // human description of arrivals, lengths and prefix
  std::string scenario;  // "" or "long-prompt-during-decode"
  uint64_t seed = 0;
};

// One configuration of a comparison (or the only one).
struct ServeConfigResult {
  std::string label;        // e.g. "prefix-cache on"
  std::string url;          // the server measured
  std::string server_args;  // flags the bench passed to `packinfer serve` ("" with --url)
  std::string workload;     // as run (with --rate P% the rate depends on the configuration)
  double capacity_rps = 0;  // > 0: measured before the run (--rate P%)
  RunMetrics metrics;
  bool has_rss = false;  // the bench started the server and sampled its RSS
  RssSummary rss;
};

void print_serve_table(std::FILE* out, const ServeRunInfo& info,
                       const std::vector<ServeConfigResult>& configs);

// One object per configuration with every figure.
nlohmann::json serve_json(const ServeRunInfo& info, const std::vector<ServeConfigResult>& configs);

// TTFT and inter-token latency percentiles per configuration as bars, throughput, TTFT against
// send time, and (when the bench started the servers) RSS against time; the scenario adds the
// streams' stall figures.
std::string serve_svg(const ServeRunInfo& info, const std::vector<ServeConfigResult>& configs);

}  // namespace packinfer::loadgen
