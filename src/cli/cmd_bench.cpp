// `packinfer bench`: prefill (ppN) and decode (tgN) speed like llama-bench, with min / median /
// max over repetitions, the achieved GFLOP/s (prefill) and GB/s of weights (decode), model load
// time and peak RSS. `packinfer bench prefill` (packed vs padded vs single) is in
// cmd_bench_prefill.cpp, `packinfer bench serve` (load on a server) in cmd_bench_serve.cpp.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli/cli_common.h"
#include "cli/cmd_bench_prefill.h"
#include "cli/cmd_bench_serve.h"
#include "cli/commands.h"
#include "kernels/system_info.h"
#include "report/peak_memory.h"
#include "report/percentile.h"

namespace packinfer::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  double min = 0, median = 0, max = 0;
};
Stats stats(const std::vector<double>& v) {
  return {report::percentile(v, 0), report::percentile(v, 50), report::percentile(v, 100)};
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  struct Opts {
    ModelOptions model;
    std::vector<int64_t> prompt_lens{512};
    std::vector<int64_t> gen_lens{128};
    int reps = 5;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("bench", "measure prefill (ppN) and decode (tgN) speed");
  add_model_options(*sub, o->model);
  sub->add_option("-p,--n-prompt", o->prompt_lens, "prompt lengths (0 skips)")->delimiter(',');
  sub->add_option("-n,--n-gen", o->gen_lens, "generation lengths (0 skips)")->delimiter(',');
  sub->add_option("-r,--repetitions", o->reps, "repetitions")->check(CLI::Range(1, 1000));
  sub->add_flag("--json", o->json, "print a JSON list instead of a table");
  // `bench prefill` compares prefill strategies; plain `bench` keeps measuring ppN/tgN.
  sub->require_subcommand(0, 1);
  add_bench_prefill_command(*sub, exit_code);
  add_bench_serve_command(*sub, exit_code);
  sub->callback([o, sub, &exit_code] {
    // CLI11 runs this after the subcommand's
    if (sub->got_subcommand("prefill") || sub->got_subcommand("serve")) return;
    EngineOptions eo = engine_options(o->model);
    int64_t max_len = 1;
    for (int64_t p : o->prompt_lens) max_len = std::max(max_len, p);
    for (int64_t g : o->gen_lens) max_len = std::max(max_len, g);
    // A context for the longest test, as llama-bench sizes its context: one test at a time
    // touches one context of KV, so the RSS it reports is the weights plus what a test needs.
    eo.n_ctx = max_len + 1;
    Engine engine(eo);
    const ModelInfo& info = engine.model_info();
    const double load_s = info.load_seconds;
    const int threads =
        eo.n_threads > 0 ? eo.n_threads : static_cast<int>(std::thread::hardware_concurrency());
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> tok(0, info.n_vocab - 1);

    // Both tests go through Engine::generate (scheduler, model runner, sampler), greedy.
    auto run_prompt = [&](int64_t n) {
      GenerationRequest req;
      req.prompt_ids.resize(static_cast<size_t>(n));
      for (auto& id : req.prompt_ids) id = tok(rng);
      req.sampling = SamplingParams::greedy();
      req.sampling.max_tokens = 0;  // prefill only: the time to the first token's logits
      return engine.generate(req).prompt_seconds;
    };
    auto run_gen = [&](int64_t n) {
      GenerationRequest req;
      req.prompt_ids = {tok(rng)};
      req.sampling = SamplingParams::greedy();
      req.sampling.max_tokens = static_cast<int32_t>(n);
      req.sampling.ignore_eos = true;
      // n forwards: the one-token prompt, then n - 1 decodes (as llama-bench's tgN).
      GenerationResult r = engine.generate(req);
      return r.prompt_seconds + r.generate_seconds;
    };

    struct Row {
      std::string test;
      Stats tps;
      double work_rate;  // GFLOP/s for pp, GB/s for tg
    };
    std::vector<Row> rows;
    for (int64_t p : o->prompt_lens) {
      if (p <= 0) continue;
      run_prompt(std::min<int64_t>(p, 32));  // warm-up: fault in the weights
      std::vector<double> tps;
      for (int r = 0; r < o->reps; ++r) tps.push_back(p / run_prompt(p));
      Stats s = stats(tps);
      rows.push_back({"pp" + std::to_string(p), s, engine.prompt_flops(p) * s.median / p / 1e9});
    }
    for (int64_t g : o->gen_lens) {
      if (g <= 0) continue;
      run_gen(std::min<int64_t>(g, 4));
      std::vector<double> tps;
      for (int r = 0; r < o->reps; ++r) tps.push_back(g / run_gen(g));
      Stats s = stats(tps);
      rows.push_back({"tg" + std::to_string(g), s, info.decode_bytes_per_token * s.median / 1e9});
    }
    double rss = report::peak_rss_mib();
    // Where the memory beyond the mapped weights is (MOM: activations are bounded by the step,
    // not the context); buffers keep their high-water marks, so this is the peak.
    const std::vector<MemoryItem> memory = engine.memory_report();
    nlohmann::ordered_json memory_json = nlohmann::ordered_json::object();
    for (const MemoryItem& m : memory) memory_json[m.name] = m.bytes / 1048576.0;
    if (o->json) {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const Row& r : rows) {
        bool pp = r.test[0] == 'p';
        out.push_back({{"test", r.test},
                       {"model", info.name},
                       {"model_path", eo.model_path},
                       {"threads", threads},
                       {"system", system_summary(threads)},
                       {"tokens_per_s_median", r.tps.median},
                       {"tokens_per_s_min", r.tps.min},
                       {"tokens_per_s_max", r.tps.max},
                       {pp ? "gflops_per_s" : "weight_gb_per_s", r.work_rate},
                       {"load_s", load_s},
                       {"panel_mib", info.panel_bytes / 1048576.0},
                       {"batch_invariant", eo.batch_invariant},
                       {"kv_format", info.kv_format},
                       {"kv_block_size", info.kv_block_size},
                       {"matmul_act", info.matmul_act},
                       {"peak_rss_mib", rss},
                       {"memory_mib", memory_json}});
      }
      std::printf("%s\n", out.dump(1).c_str());
    } else {
      std::printf("system: %s\n", system_summary(threads).c_str());
      std::printf("model: %s (%s, %s)  params: %.1f M  weights: %.1f MiB  threads: %d\n",
                  info.name.c_str(), info.arch.c_str(), eo.model_path.c_str(), info.n_params / 1e6,
                  info.weight_bytes / 1048576.0, threads);
      std::printf(
          "load: %.3f s (mmap; %.1f MiB of weights repacked into panels)   peak RSS: %.1f "
          "MiB   repetitions: %d%s\n",
          load_s, info.panel_bytes / 1048576.0, rss, o->reps,
          eo.batch_invariant ? "   kernels: batch-invariant" : "");
      std::printf("KV cache: %s, blocks of %d positions   matmul activations: %s\n",
                  info.kv_format.c_str(), info.kv_block_size, info.matmul_act.c_str());
      std::printf("| %-7s | %12s | %12s | %12s | %18s |\n", "test", "t/s median", "t/s min",
                  "t/s max", "GFLOP/s | GB/s");
      std::printf(
          "|---------|--------------|--------------|--------------|--------------------|\n");
      for (const Row& r : rows) {
        std::printf("| %-7s | %12.2f | %12.2f | %12.2f | %13.1f %s |\n", r.test.c_str(),
                    r.tps.median, r.tps.min, r.tps.max, r.work_rate,
                    r.test[0] == 'p' ? "GF/s" : "GB/s");
      }
      std::printf("memory beyond the weights (MiB, high-water marks):\n");
      for (const MemoryItem& m : memory) {
        std::printf("  %9.2f  %s\n", m.bytes / 1048576.0, m.name.c_str());
      }
    }
    exit_code = 0;
  });
}

}  // namespace packinfer::cli
