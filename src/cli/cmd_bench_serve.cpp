#include "cli/cmd_bench_serve.h"

#include <httplib.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli/cli_common.h"
#include "cli/rss_sampler.h"
#include "cli/serve_load.h"
#include "cli/serve_metrics.h"
#include "cli/serve_report.h"
#include "cli/serve_workload.h"
#include "cli/server_process.h"
#include "packinfer/error.h"

namespace packinfer::cli {
namespace {

constexpr const char* kLongPromptScenario = "long-prompt-during-decode";

// "--rate": requests/s, "inf", or "P%" of the capacity measured first on the same server.
struct RateSpec {
  double rate = std::numeric_limits<double>::infinity();
  double capacity_fraction = 0;  // > 0: rate = fraction x measured capacity
};

struct Opts {
  RateSpec rate_spec;  // parsed from `rate`
  std::string url, model, compare, server_args, scenario, svg, api_key;
  std::string rate = "inf";
  int32_t threads = 0;
  WorkloadOptions workload;
  int64_t streams = 8, long_prompt_tokens = 4000;
  Slo slo;
  int64_t max_concurrency = 512;
  int warmup = 1;
  double timeout_s = 600;
  bool json = false, server_log = false;
};

// One server configuration to measure: a label and the flags that make it.
struct Config {
  std::string label;
  std::vector<std::string> flags;
};

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::string join(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
  return s;
}

RateSpec parse_rate(std::string s) {
  RateSpec r;
  if (s == "inf") return r;
  bool percent = !s.empty() && s.back() == '%';
  if (percent) s.pop_back();
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
  }
  if (used != s.size() || !(v > 0) || !std::isfinite(v)) {
    throw InvalidArgument(
        "--rate must be requests/s > 0, 'inf', or a percentage of capacity "
        "such as 70%");
  }
  if (percent) {
    r.capacity_fraction = v / 100;
  } else {
    r.rate = v;
  }
  return r;
}

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

std::vector<Config> configs_for(const Opts& o) {
  std::vector<std::string> base = split_words(o.server_args);
  if (o.threads > 0) {
    base.insert(base.begin(), {"-t", std::to_string(o.threads)});
  }
  auto with = [&](const char* flag) {
    std::vector<std::string> f = base;
    f.push_back(flag);
    return f;
  };
  if (o.compare.empty()) return {{"server", base}};
  if (o.compare == "prefix-cache") {
    return {{"prefix-cache on", base}, {"prefix-cache off", with("--no-prefix-cache")}};
  }
  if (o.compare == "chunked-prefill") {
    return {{"chunked on", base}, {"chunked off", with("--no-chunked-prefill")}};
  }
  throw InvalidArgument("--compare must be prefix-cache or chunked-prefill");
}

// The id the server serves (OpenAI clients must name a model); empty if it does not say.
std::string served_model_id(const StreamTarget& t) {
  httplib::Client c(t.host, t.port);
  c.set_connection_timeout(std::chrono::seconds(5));
  httplib::Headers h;
  if (!t.api_key.empty()) h.emplace("Authorization", "Bearer " + t.api_key);
  auto res = c.Get("/v1/models", h);
  if (!res || res->status != 200) return "";
  auto j = nlohmann::json::parse(res->body, nullptr, false);
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

std::string describe(const Opts& o, int64_t n_requests) {
  const WorkloadOptions& w = o.workload;
  std::string d;
  if (o.scenario == kLongPromptScenario) {
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
void warm_up(const StreamTarget& t, const Opts& o) {
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

ServeConfigResult run_config(const Opts& o, const Config& cfg, ServeRunInfo& info) {
  ServeConfigResult out;
  out.label = cfg.label;
  std::unique_ptr<ServerProcess> server;
  StreamTarget target;
  if (!o.model.empty()) {
    std::vector<std::string> argv = {self_executable(), "serve",     "-m",     o.model,
                                     "--host",          "127.0.0.1", "--port", "0"};
    argv.insert(argv.end(), cfg.flags.begin(), cfg.flags.end());
    out.server_args = join(cfg.flags);
    std::fprintf(stderr, "starting: %s\n", join(argv).c_str());
    server = std::make_unique<ServerProcess>(argv, o.server_log, o.timeout_s);
    target.port = server->port();
  } else {
    target = parse_url(o.url);
  }
  target.api_key = o.api_key;
  target.timeout_s = o.timeout_s;
  out.url = "http://" + target.host + ":" + std::to_string(target.port);

  Opts run = o;
  if (run.workload.model_name.empty()) run.workload.model_name = served_model_id(target);
  warm_up(target, run);
  if (o.rate_spec.capacity_fraction > 0) {
    out.capacity_rps = measure_capacity(target, run.workload, cfg.label);
    run.workload.rate = o.rate_spec.capacity_fraction * out.capacity_rps;
  }
  std::vector<PlannedRequest> plan =
      o.scenario == kLongPromptScenario
          ? long_prompt_during_decode(run.workload, o.streams, o.long_prompt_tokens)
          : build_workload(run.workload);
  info.workload = describe(run, static_cast<int64_t>(plan.size()));
  out.workload = info.workload;

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
  std::fprintf(stderr, "%s: %s at %s\n", cfg.label.c_str(), info.workload.c_str(), out.url.c_str());
  LoadResult load = run_load(target, plan, lo);
  if (rss) {
    out.has_rss = true;
    out.rss = rss->finish();
  }
  out.metrics = compute_metrics(plan, load, o.slo);
  return out;
}

void run(const Opts& o, int& exit_code) {
  if (o.url.empty() == o.model.empty()) {
    throw InvalidArgument("give either --url of a running server or -m MODEL to start one");
  }
  if (!o.compare.empty() && o.model.empty()) {
    throw InvalidArgument("--compare starts its own servers: it needs -m MODEL, not --url");
  }
  if (!o.scenario.empty() && o.scenario != kLongPromptScenario) {
    throw InvalidArgument(std::string("--scenario must be ") + kLongPromptScenario);
  }
  Opts p = o;
  p.rate_spec = parse_rate(o.rate);
  p.workload.rate = p.rate_spec.rate;
  std::vector<Config> configs = configs_for(p);
  ServeRunInfo info;
  info.model = o.model;
  info.scenario = o.scenario;
  info.seed = o.workload.seed;
  std::vector<ServeConfigResult> results;
  for (const Config& c : configs) results.push_back(run_config(p, c, info));

  print_serve_table(o.json ? stderr : stdout, info, results);
  if (o.json) std::printf("%s\n", serve_json(info, results).dump(1).c_str());
  if (!o.svg.empty()) write_report_file(o.svg, serve_svg(info, results));
  exit_code = 0;
  for (const auto& r : results) {
    if (r.metrics.failed > 0) exit_code = 1;  // a load test with failures did not pass
  }
}

}  // namespace

void add_bench_serve_command(CLI::App& bench, int& exit_code) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = bench.add_subcommand(
      "serve", "load-test an OpenAI-compatible server: TTFT, TPOT, ITL, throughput, goodput");
  WorkloadOptions& w = o->workload;
  sub->add_option("--url", o->url, "a running server, e.g. http://127.0.0.1:8080");
  sub->add_option("-m,--model", o->model,
                  "start `packinfer serve -m MODEL --port 0` for each configuration instead");
  sub->add_option("--compare", o->compare,
                  "on/off comparison in one run: prefix-cache or chunked-prefill (needs -m)");
  sub->add_option("--server-args", o->server_args,
                  "extra flags for the started server, e.g. \"--kv-mem 1G --max-step-tokens 256\"");
  sub->add_option("-t,--threads", o->threads, "threads of the started server (its -t)");
  sub->add_option("--rate", o->rate,
                  "Poisson arrival rate in requests/s, inf (all at once), or P% of the capacity "
                  "measured first with -n requests at once")
      ->capture_default_str();
  sub->add_option("-n,--num-requests", w.num_requests, "requests to send")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24))
      ->capture_default_str();
  sub->add_option("--duration", w.duration_s,
                  "send Poisson arrivals for this many seconds instead of --num-requests")
      ->check(CLI::Range(0.0, 1e7));
  sub->add_option("--seed", w.seed, "seed for arrivals, lengths and prompt text")
      ->capture_default_str();
  sub->add_option("--prompt-len", w.prompt_len,
                  "prompt tokens (approx.): fixed:N, uniform:A:B or loguniform:A:B")
      ->capture_default_str();
  sub->add_option("--output-len", w.output_len, "max_tokens per request, same forms")
      ->capture_default_str();
  sub->add_option("--prompts", w.prompts_file,
                  "JSONL prompts (\"prompt\", \"prompt_ids\" or \"messages\", or batch lines)");
  sub->add_option("--shared-prefix-tokens", w.shared_prefix_tokens,
                  "the same ~K-token system text before every prompt")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  sub->add_flag("--chat", w.chat, "use /v1/chat/completions instead of /v1/completions");
  sub->add_option("--model-name", w.model_name,
                  "the requests' \"model\" (default: the first id of GET /v1/models)");
  sub->add_option("--scenario", o->scenario,
                  std::string(kLongPromptScenario) +
                      ": --streams requests decode, then one --long-prompt-tokens prompt arrives");
  sub->add_option("--streams", o->streams, "decoding streams of the scenario")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->capture_default_str();
  sub->add_option("--long-prompt-tokens", o->long_prompt_tokens, "the scenario's long prompt")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  sub->add_option("--slo-ttft-ms", o->slo.ttft_ms, "goodput SLO on time to first token");
  sub->add_option("--slo-tpot-ms", o->slo.tpot_ms, "goodput SLO on time per output token");
  sub->add_option("--max-concurrency", o->max_concurrency, "requests in flight at most")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))
      ->capture_default_str();
  sub->add_option("--warmup", o->warmup, "unmeasured short requests before each configuration")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  sub->add_option("--timeout", o->timeout_s, "seconds to wait for a server or a response")
      ->capture_default_str();
  sub->add_option("--api-key", o->api_key, "sent as a Bearer token");
  sub->add_flag("--json", o->json,
                "print a JSON list (one object per configuration); table to stderr");
  sub->add_option("--svg", o->svg, "write charts to this SVG file");
  sub->add_flag("--server-log", o->server_log, "copy the started server's log to stderr");
  sub->callback([o, &exit_code] { run(*o, exit_code); });
}

}  // namespace packinfer::cli
