#include "loadgen/serve_bench.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "http/http_client.h"
#include "loadgen/rss_sampler.h"
#include "loadgen/serve_load.h"
#include "loadgen/serve_metrics.h"
#include "loadgen/server_process.h"
#include "packinfer/error.h"

namespace packinfer::loadgen {
namespace {

std::string join(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
  return s;
}

}  // namespace

StreamTarget parse_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) throw InvalidArgument("--url must start with http://");
  std::string rest = url.substr(scheme.size());
  if (size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  StreamTarget t;
  size_t colon = rest.rfind(':');
  t.host = rest.substr(0, colon);
  t.port = colon == std::string::npos ? 80 : std::atoi(rest.c_str() + colon + 1);
  if (t.host.empty() || t.port <= 0 || t.port > 65535) {
    throw InvalidArgument("bad --url '" + url + "': expected http://HOST:PORT");
  }
  return t;
}

std::vector<ServeConfig> serve_configs(const std::string& compare,
                                       const std::vector<std::string>& base) {
  auto with = [&](const char* flag) {
    std::vector<std::string> f = base;
    f.push_back(flag);
    return f;
  };
  if (compare.empty()) return {{"server", base}};
  if (compare == "prefix-cache") {
    return {{"prefix-cache on", base}, {"prefix-cache off", with("--no-prefix-cache")}};
  }
  if (compare == "chunked-prefill") {
    return {{"chunked on", base}, {"chunked off", with("--no-chunked-prefill")}};
  }
  throw InvalidArgument("--compare must be prefix-cache or chunked-prefill");
}

namespace {

// The id the server serves (OpenAI clients must name a model); empty if it does not say.
std::string served_model_id(const StreamTarget& t) {
  api::HttpRequest req{.method = "GET", .target = "/v1/models"};
  if (!t.api_key.empty()) req.headers.emplace_back("Authorization", "Bearer " + t.api_key);
  const api::HttpClientResult res = api::http_fetch(
      t.host, t.port, req,
      {.connect_timeout = std::chrono::seconds(5), .read_timeout = std::chrono::seconds(5)});
  if (!res.ok || res.status != 200) return "";
  auto j = nlohmann::json::parse(res.body, nullptr, false);
  if (j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty() &&
      j["data"][0].contains("id") && j["data"][0]["id"].is_string()) {
    return j["data"][0]["id"].get<std::string>();
  }
  return "";
}

// A rate or duration for the workload line: 3 significant digits, "inf" when unbounded.
std::string short_number(double rate) {
  if (!std::isfinite(rate)) return "inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", rate);
  return buf;
}

std::string describe(const ServeBenchOptions& o, int64_t n_requests) {
  const WorkloadOptions& w = o.workload;
  std::string d;
  if (o.long_prompt_scenario) {
    d = std::to_string(o.streams) + " streams (prompt " + w.prompt_len + ", output " +
        w.output_len + "), then one " + std::to_string(o.long_prompt_tokens) +
        "-token prompt once all decode";
  } else {
    d = std::to_string(n_requests) + " requests at rate " + short_number(w.rate) + "/s" +
        (w.duration_s > 0 ? " for " + short_number(w.duration_s) + " s" : "") + ", prompt " +
        (w.prompts_file.empty() ? w.prompt_len : "jsonl:" + w.prompts_file) + ", output " +
        w.output_len;
  }
  if (w.shared_prefix_tokens > 0) {
    d += ", shared prefix " + std::to_string(w.shared_prefix_tokens) + " tokens";
  }
  return d + (w.chat ? ", chat" : "");
}

// Unmeasured short requests first: fault in the weights and grow the server's buffers.
void warm_up(const StreamTarget& t, const ServeBenchOptions& o) {
  for (int i = 0; i < o.warmup; ++i) {
    std::string body = request_body(filler_text(16, 0xC0FFEEull + static_cast<uint64_t>(i)), 4,
                                    o.workload.chat, o.workload.model_name);
    StreamResult r =
        stream_request(t, o.workload.chat ? "/v1/chat/completions" : "/v1/completions", body);
    if (!r.ok) std::fprintf(stderr, "warning: warm-up request failed: %s\n", r.error.c_str());
  }
}

// Requests/s the server completes when the -n requests of the workload arrive at once. Other
// prompts than the measured run's (another seed), so a prefix cache does not carry over.
double measure_capacity(const StreamTarget& target, WorkloadOptions w, const std::string& label) {
  w.rate = std::numeric_limits<double>::infinity();
  w.duration_s = 0;
  w.seed ^= 0x9e3779b97f4a7c15ull;
  std::fprintf(stderr, "%s: measuring capacity with %lld requests at once\n", label.c_str(),
               static_cast<long long>(w.num_requests));
  LoadResult probe = run_load(target, build_workload(w));
  RunMetrics m = compute_metrics(build_workload(w), probe, {});
  if (m.completed == 0) throw Error("capacity probe: every request failed: " + m.first_error);
  std::fprintf(stderr, "%s: capacity %.3f requests/s (%lld failed)\n", label.c_str(),
               m.request_throughput, static_cast<long long>(m.failed));
  return m.request_throughput;
}

}  // namespace

ServeConfigResult run_serve_config(const ServeBenchOptions& o, const ServeConfig& cfg) {
  ServeConfigResult out;
  out.label = cfg.label;
  std::unique_ptr<ServerProcess> server;
  StreamTarget target;
  if (!o.model.empty()) {
    std::vector<std::string> argv = {self_executable(), "serve",     "-m",     o.model,
                                     "--host",          "127.0.0.1", "--port", "0"};
    argv.insert(argv.end(), cfg.server_flags.begin(), cfg.server_flags.end());
    out.server_args = join(cfg.server_flags);
    std::fprintf(stderr, "starting: %s\n", join(argv).c_str());
    server = std::make_unique<ServerProcess>(argv, o.server_log, o.timeout_s);
    target.port = server->port();
  } else {
    target = parse_url(o.url);
  }
  target.api_key = o.api_key;
  target.timeout_s = o.timeout_s;
  out.url = "http://" + target.host + ":" + std::to_string(target.port);

  ServeBenchOptions run = o;
  if (run.workload.model_name.empty()) run.workload.model_name = served_model_id(target);
  warm_up(target, run);
  if (o.capacity_fraction > 0) {
    out.capacity_rps = measure_capacity(target, run.workload, cfg.label);
    run.workload.rate = o.capacity_fraction * out.capacity_rps;
  }
  std::vector<PlannedRequest> plan =
      o.long_prompt_scenario
          ? long_prompt_during_decode(run.workload, o.streams, o.long_prompt_tokens)
          : build_workload(run.workload);
  out.workload = describe(run, static_cast<int64_t>(plan.size()));

  std::optional<RssSampler> rss;
  if (server) rss.emplace(server->pid());
  LoadOptions lo;
  lo.max_concurrency = o.max_concurrency;
  const int64_t n = static_cast<int64_t>(plan.size());
  lo.on_finished = [n, label = cfg.label](int64_t done) {
    if (done == n || done % std::max<int64_t>(n / 10, 1) == 0) {
      std::fprintf(stderr, "%s: %lld/%lld requests done\n", label.c_str(),
                   static_cast<long long>(done), static_cast<long long>(n));
    }
  };
  std::fprintf(stderr, "%s: %s at %s\n", cfg.label.c_str(), out.workload.c_str(), out.url.c_str());
  LoadResult load = run_load(target, plan, lo);
  if (rss) {
    out.has_rss = true;
    out.rss = rss->finish();
  }
  out.metrics = compute_metrics(plan, load, o.slo);
  return out;
}

}  // namespace packinfer::loadgen
