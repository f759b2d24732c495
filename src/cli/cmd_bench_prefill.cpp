#include "cli/cmd_bench_prefill.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>

#include "cli/cli_common.h"
#include "packinfer/batch.h"
#include "packinfer/engine.h"
#include "prefill_bench/prefill_bench.h"
#include "prefill_bench/prefill_report.h"
#include "prompt_sets/prompt_lengths.h"
#include "util/text_file.h"

namespace packinfer::cli {
namespace {

using prefill_bench::PrefillBatchResult;
using prefill_bench::PrefillBenchOptions;
using prefill_bench::PrefillRunInfo;
using prompt_sets::JsonlPrompt;
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

// The prompts of the largest batch; smaller batches of a sweep use a prefix of it. Everything is
// turned into token ids here so every mode prefills exactly the same tokens.
std::vector<GenerationRequest> make_requests(Engine& engine, const PromptDistribution& dist,
                                             int64_t n, uint64_t seed) {
  std::vector<std::vector<int32_t>> prompts;
  if (dist.kind == PromptDistribution::Kind::Jsonl) {
    for (const JsonlPrompt& p : prompt_sets::pick_prompts(
             prompt_sets::parse_jsonl_prompts(read_text_file(dist.file)), n, seed)) {
      if (!p.ids.empty()) {
        prompts.push_back(p.ids);
      } else if (!p.messages.empty()) {
        prompts.push_back(engine.tokenize(engine.apply_chat_template(p.messages)));
      } else {
        prompts.push_back(engine.tokenize(p.text));
      }
    }
  } else {
    std::vector<int64_t> lens = prompt_sets::sample_prompt_lengths(dist, n, seed);
    for (size_t i = 0; i < lens.size(); ++i) {
      // A seed per prompt (not one stream) keeps prompt i the same whatever the batch size.
      prompts.push_back(prompt_sets::random_token_ids(lens[i], engine.model_info().n_vocab,
                                                      seed * 0x100000001b3ull + i + 1));
    }
  }
  const int64_t n_ctx = engine.model_info().n_ctx;
  std::vector<GenerationRequest> requests;
  for (auto& ids : prompts) {
    if (static_cast<int64_t>(ids.size()) >= n_ctx) {
      throw InvalidArgument("a prompt of " + std::to_string(ids.size()) +
                            " tokens does not fit the context of " + std::to_string(n_ctx) +
                            " positions; pass a larger -c or a shorter --dist");
    }
    GenerationRequest r;
    r.prompt_ids = std::move(ids);
    r.sampling = SamplingParams::greedy();
    r.sampling.max_tokens = 1;  // prefill only: done when every prompt has its first token
    r.sampling.seed = seed;
    requests.push_back(std::move(r));
  }
  return requests;
}

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
  std::vector<GenerationRequest> all = make_requests(engine, dist, largest, o.seed);

  PrefillRunInfo info;
  info.model_name = engine.model_info().name;
  info.model_path = eo.model_path;
  info.distribution = prompt_sets::to_string(dist);
  info.threads =
      eo.n_threads > 0 ? eo.n_threads : static_cast<int>(std::thread::hardware_concurrency());
  info.seed = o.seed;
  info.max_batch_tokens = o.max_batch_tokens > 0 ? o.max_batch_tokens : eo.max_batch_tokens;
  info.repetitions = o.reps;

  // Warm-up outside the measurement: faults in the weights and grows the scratch buffers once.
  {
    std::vector<GenerationRequest> warm(all.begin(), all.begin() + std::min<int64_t>(2, largest));
    BatchOptions bo;
    bo.max_batch_tokens = o.max_batch_tokens;
    engine.generate_batch(warm, bo);
  }

  std::vector<PrefillBatchResult> runs;
  for (int64_t size : sizes) {
    if (sizes.size() > 1) std::fprintf(stderr, "batch %lld ...\n", static_cast<long long>(size));
    std::vector<GenerationRequest> batch(all.begin(), all.begin() + size);
    PrefillBatchResult b;
    b.batch_size = size;
    b.min_len = INT64_MAX;
    for (const auto& r : batch) {
      auto len = static_cast<int64_t>(r.prompt_ids.size());
      b.prompt_tokens += len;
      b.min_len = std::min(b.min_len, len);
      b.max_len = std::max(b.max_len, len);
    }
    b.modes = prefill_bench::run_prefill_bench(engine, batch, bench);
    runs.push_back(std::move(b));
  }

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
