#pragma once
// One configuration of `packinfer bench serve`: reach the server (a running one, or `packinfer
// serve` started as a child with the configuration's flags), warm it up, optionally measure its
// capacity, run the workload while sampling the child's RSS, and compute the figures.
#include <string>
#include <vector>

#include "loadgen/latency_stats.h"
#include "loadgen/serve_report.h"
#include "loadgen/serve_workload.h"
#include "loadgen/sse_client.h"

namespace packinfer::loadgen {

struct ServeBenchOptions {
  std::string url;    // a running server (http://HOST:PORT), or
  std::string model;  // a model: `packinfer serve -m MODEL --port 0` runs per configuration
  WorkloadOptions workload;
  double capacity_fraction = 0;  // > 0: the rate is this fraction of the capacity measured first
  bool long_prompt_scenario = false;
  int64_t streams = 8, long_prompt_tokens = 4000;
  Slo slo;
  int64_t max_concurrency = 512;
  int warmup = 1;  // unmeasured short requests before each configuration
  double timeout_s = 600;
  std::string api_key;
  bool server_log = false;  // copy the child server's log to stderr
};

// A server configuration to measure: a label and the flags that make it.
struct ServeConfig {
  std::string label;
  std::vector<std::string> server_flags;
};

// The configurations of `--compare` ("" = just one, "prefix-cache", "chunked-prefill"), each
// with `base` flags. Throws packinfer::InvalidArgument for anything else.
std::vector<ServeConfig> serve_configs(const std::string& compare,
                                       const std::vector<std::string>& base);

// "http://HOST:PORT[/...]". Throws packinfer::InvalidArgument.
StreamTarget parse_url(const std::string& url);

ServeConfigResult run_serve_config(const ServeBenchOptions& o, const ServeConfig& cfg);

}  // namespace packinfer::loadgen
