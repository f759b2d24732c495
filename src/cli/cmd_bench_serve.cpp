#include "cli/cmd_bench_serve.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <sstream>

#include "cli/cli_common.h"
#include "loadgen/serve_bench.h"
#include "loadgen/serve_report.h"
#include "loadgen/serve_rounds.h"
#include "packinfer/error.h"

namespace packinfer::cli {
namespace {

using loadgen::ServeBenchOptions;
using loadgen::ServeConfig;
using loadgen::ServeConfigResult;
using loadgen::ServeRunInfo;
using loadgen::WorkloadOptions;

constexpr const char* kLongPromptScenario = "long-prompt-during-decode";

// "--rate": requests/s, "inf", or "P%" of the capacity measured first on the same server.
struct RateSpec {
  double rate = std::numeric_limits<double>::infinity();
  double capacity_fraction = 0;  // > 0: rate = fraction x measured capacity
};

struct ServeBenchOpts {
  ServeBenchOptions bench;  // rate, scenario and server flags are filled in from the strings
  std::string compare, server_args, scenario, svg;
  std::string rate = "inf";
  int32_t threads = 0;
  int32_t rounds = 1;
  bool json = false;
};

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
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

void run(const ServeBenchOpts& o, int& exit_code) {
  ServeBenchOptions b = o.bench;
  if (b.url.empty() == b.model.empty()) {
    throw InvalidArgument("give either --url of a running server or -m MODEL to start one");
  }
  if (!o.compare.empty() && b.model.empty()) {
    throw InvalidArgument("--compare starts its own servers: it needs -m MODEL, not --url");
  }
  if (o.rounds > 1 && b.model.empty()) {
    throw InvalidArgument(
        "--rounds repeats servers it starts itself (-m MODEL); against --url the same server "
        "would serve every round, its prefix cache warm from the earlier ones");
  }
  if (!o.scenario.empty() && o.scenario != kLongPromptScenario) {
    throw InvalidArgument(std::string("--scenario must be ") + kLongPromptScenario);
  }
  b.long_prompt_scenario = !o.scenario.empty();
  RateSpec rate = parse_rate(o.rate);
  b.workload.rate = rate.rate;
  b.capacity_fraction = rate.capacity_fraction;
  std::vector<std::string> flags = split_words(o.server_args);
  if (o.threads > 0) flags.insert(flags.begin(), {"-t", std::to_string(o.threads)});
  std::vector<ServeConfig> configs = loadgen::serve_configs(o.compare, flags);

  // Each round runs every configuration once, in order, so a drift of the machine's speed
  // spreads over all of them (serve_rounds.h).
  std::vector<std::vector<ServeConfigResult>> rounds;
  for (int32_t r = 0; r < o.rounds; ++r) {
    if (o.rounds > 1) std::fprintf(stderr, "round %d of %d\n", r + 1, o.rounds);
    std::vector<ServeConfigResult> results;
    for (const ServeConfig& c : configs) results.push_back(loadgen::run_serve_config(b, c));
    rounds.push_back(std::move(results));
  }
  ServeRunInfo info;
  info.model = b.model;
  info.scenario = o.scenario;
  info.seed = b.workload.seed;
  info.workload = rounds.front().front().workload;
  std::FILE* table = o.json ? stderr : stdout;
  nlohmann::json all = nlohmann::json::array();
  for (size_t r = 0; r < rounds.size(); ++r) {
    if (rounds.size() > 1) std::fprintf(table, "\n## round %zu of %zu\n", r + 1, rounds.size());
    loadgen::print_serve_table(table, info, rounds[r]);
    for (nlohmann::json& j : loadgen::serve_json(info, rounds[r])) {
      j["round"] = r + 1;
      all.push_back(std::move(j));
    }
  }
  if (rounds.size() > 1) loadgen::print_rounds_summary(table, rounds);
  if (o.json) std::printf("%s\n", all.dump(1).c_str());
  if (!o.svg.empty()) write_report_file(o.svg, loadgen::serve_svg(info, rounds.back()));
  exit_code = 0;
  for (const auto& round : rounds) {
    for (const auto& r : round) {
      if (r.metrics.failed > 0) exit_code = 1;  // a load test with failures did not pass
    }
  }
}

}  // namespace

void add_bench_serve_command(CLI::App& bench, int& exit_code) {
  auto o = std::make_shared<ServeBenchOpts>();
  CLI::App* sub = bench.add_subcommand(
      "serve", "load-test an OpenAI-compatible server: TTFT, TPOT, ITL, throughput, goodput");
  WorkloadOptions& w = o->bench.workload;
  sub->add_option("--url", o->bench.url, "a running server, e.g. http://127.0.0.1:8080");
  sub->add_option("-m,--model", o->bench.model,
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
  sub->add_option("--streams", o->bench.streams, "decoding streams of the scenario")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->capture_default_str();
  sub->add_option("--long-prompt-tokens", o->bench.long_prompt_tokens, "the scenario's long prompt")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  sub->add_option("--slo-ttft-ms", o->bench.slo.ttft_ms, "goodput SLO on time to first token");
  sub->add_option("--slo-tpot-ms", o->bench.slo.tpot_ms, "goodput SLO on time per output token");
  sub->add_option("--max-concurrency", o->bench.max_concurrency, "requests in flight at most")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))
      ->capture_default_str();
  sub->add_option("--warmup", o->bench.warmup,
                  "unmeasured short requests before each configuration")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  sub->add_option("--timeout", o->bench.timeout_s, "seconds to wait for a server or a response")
      ->capture_default_str();
  sub->add_option("--api-key", o->bench.api_key, "sent as a Bearer token");
  sub->add_flag("--json", o->json,
                "print a JSON list (one object per configuration); table to stderr");
  sub->add_option("--svg", o->svg,
                  "write charts to this SVG file (with --rounds: the last round's)");
  sub->add_option("--rounds", o->rounds,
                  "run the configurations this many times, alternating, and print each round and "
                  "the medians (a noisy machine's drift spreads over both configurations)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  sub->add_flag("--server-log", o->bench.server_log, "copy the started server's log to stderr");
  sub->callback([o, &exit_code] { run(*o, exit_code); });
}

}  // namespace packinfer::cli
