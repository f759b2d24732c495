#include "cli/cmd_bench_prefill.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>

#include "cli/cli_common.h"
#include "packinfer/engine.h"
#include "prefill_bench/prefill_bench.h"
#include "prefill_bench/prefill_report.h"
#include "prefill_bench/prefill_requests.h"
#include "prompt_sets/prompt_lengths.h"

namespace packinfer::cli {
namespace {

using prefill_bench::PrefillBatchResult;
using prefill_bench::PrefillBenchOptions;
using prefill_bench::PrefillRunInfo;
using prompt_sets::PromptDistribution;

struct Opts {
  ModelOptions model;
  std::string dist = "loguniform:16:1024";
  int64_t batch = 32;
  uint64_t seed = 1;
  int64_t max_batch_tokens = 0;
  std::vector<std::string> modes{"packed", "padded", "single"};
  int reps = 3;
  bool json = false;
  std::vector<int64_t> sweep;
  std::string svg;
};

void run(const Opts& o) {
  PromptDistribution dist = prompt_sets::parse_prompt_distribution(o.dist);
  PrefillBenchOptions bench;
  bench.modes = prefill_bench::parse_prefill_modes(o.modes);
  bench.repetitions = o.reps;
  bench.max_batch_tokens = o.max_batch_tokens;
  std::vector<int64_t> sizes = o.sweep.empty() ? std::vector<int64_t>{o.batch} : o.sweep;
  for (int64_t s : sizes) {
    if (s < 1 || s > 65536) throw InvalidArgument("batch sizes must be in [1, 65536]");
  }

  EngineOptions eo = engine_options(o.model);
  Engine engine(eo);
  const int64_t largest = *std::max_element(sizes.begin(), sizes.end());
  std::vector<GenerationRequest> all =
      prefill_bench::make_prefill_requests(engine, dist, largest, o.seed);

  PrefillRunInfo info;
  info.model_name = engine.model_info().name;
  info.model_path = eo.model_path;
  info.distribution = prompt_sets::to_string(dist);
  info.threads =
      eo.n_threads > 0 ? eo.n_threads : static_cast<int>(std::thread::hardware_concurrency());
  info.seed = o.seed;
  info.max_batch_tokens = o.max_batch_tokens > 0 ? o.max_batch_tokens : eo.max_batch_tokens;
  info.repetitions = o.reps;

  std::vector<PrefillBatchResult> runs =
      prefill_bench::run_prefill_sweep(engine, all, sizes, bench);

  // With --json the table goes to stderr so stdout stays one parseable JSON document.
  prefill_bench::print_prefill_table(o.json ? stderr : stdout, info, runs);
  if (o.json) std::printf("%s\n", prefill_bench::prefill_json(info, runs).dump(1).c_str());
  if (!o.svg.empty()) write_report_file(o.svg, prefill_bench::prefill_svg(info, runs));
}

}  // namespace

void add_bench_prefill_command(CLI::App& bench, int& exit_code) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = bench.add_subcommand(
      "prefill", "batch TTFT and peak memory of packed vs padded vs single prefill");
  add_model_options(*sub, o->model);
  sub->add_option("--dist", o->dist,
                  "prompt lengths: fixed:N, uniform:A:B, loguniform:A:B or jsonl:FILE")
      ->capture_default_str();
  sub->add_option("--batch", o->batch, "prompts in the batch")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "seed for prompt lengths and tokens")->capture_default_str();
  sub->add_option("--max-batch-tokens", o->max_batch_tokens,
                  "token budget per forward (default: the engine's, -b)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  sub->add_option("--modes", o->modes, "prefill modes to compare, in order")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("-r,--repetitions", o->reps, "repetitions per mode (median reported)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sub->add_flag("--json", o->json, "print a JSON list (one object per mode); table to stderr");
  sub->add_option("--sweep-batch", o->sweep, "batch sizes to sweep, e.g. 1,2,4,8,16,32")
      ->delimiter(',');
  sub->add_option("--svg", o->svg, "write charts to this SVG file");
  sub->callback([o, &exit_code] {
    run(*o);
    exit_code = 0;
  });
}

}  // namespace packinfer::cli
