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

#include "batch/token_batch.h"
#include "cli/cli_common.h"
#include "cli/cmd_bench_prefill.h"
#include "cli/cmd_bench_serve.h"
#include "cli/commands.h"
#include "kv/kv_cache.h"
#include "model/flops.h"
#include "model/model.h"
#include "model/transformer.h"
#include "report/peak_memory.h"
#include "report/percentile.h"
#include "util/thread_pool.h"

namespace packinfer::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  double min = 0, median = 0, max = 0;
};
Stats stats(const std::vector<double>& v) {
  return {report::percentile(v, 0), report::percentile(v, 50), report::percentile(v, 100)};
}

int64_t decode_weight_bytes(const Model& m) {
  int64_t bytes = 0;
  for (const LayerWeights& l : m.weights().layers) {
    for (const WeightMatrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      bytes += w->row_bytes * w->rows;
  }
  return bytes + m.weights().output.row_bytes * m.weights().output.rows;
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
    auto t0 = Clock::now();
    std::unique_ptr<Model> model = Model::load(eo.model_path);
    double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const ModelConfig& c = model->config();
    int threads =
        eo.n_threads > 0 ? eo.n_threads : static_cast<int>(std::thread::hardware_concurrency());
    ThreadPool pool(threads);
    Transformer tf(c, model->weights(), pool);
    int64_t max_len = 1;
    for (int64_t p : o->prompt_lens) max_len = std::max(max_len, p);
    for (int64_t g : o->gen_lens) max_len = std::max(max_len, g);
    const int32_t block = 16;
    KvCache kv(c, static_cast<int32_t>(KvCache::blocks_for(max_len, block)), block);
    tf.set_mlp_chunk(std::max<int64_t>(eo.max_batch_tokens, 1));
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> tok(0, c.n_vocab - 1);
    std::vector<float> logits;

    auto run_prompt = [&](int64_t n) {
      std::vector<int32_t> ids(static_cast<size_t>(n));
      for (auto& id : ids) id = tok(rng);
      SequenceKv seq;
      kv.reserve(seq, n);
      TokenBatch batch;
      auto s = Clock::now();
      for (int64_t start = 0; start < n; start += eo.max_batch_tokens) {
        int64_t m = std::min(eo.max_batch_tokens, n - start);
        batch.clear();
        batch.add(&seq, std::span<const int32_t>(ids.data() + start, static_cast<size_t>(m)),
                  start + m == n ? LogitsWanted::Last : LogitsWanted::None);
        tf.forward(batch, kv, logits);
      }
      double t = std::chrono::duration<double>(Clock::now() - s).count();
      kv.release(seq);
      return t;
    };
    auto run_gen = [&](int64_t n) {
      SequenceKv seq;
      kv.reserve(seq, n);
      TokenBatch batch;
      int32_t id = tok(rng);
      auto s = Clock::now();
      for (int64_t i = 0; i < n; ++i) {
        batch.clear();
        batch.add(&seq, std::span<const int32_t>(&id, 1), LogitsWanted::Last);
        tf.forward(batch, kv, logits);
        id = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      double t = std::chrono::duration<double>(Clock::now() - s).count();
      kv.release(seq);
      return t;
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
      double flops = layer_flops_per_token(c) * p + attention_flops(c, 0, p) + lm_head_flops(c);
      rows.push_back({"pp" + std::to_string(p), s, flops * s.median / p / 1e9});
    }
    for (int64_t g : o->gen_lens) {
      if (g <= 0) continue;
      run_gen(std::min<int64_t>(g, 4));
      std::vector<double> tps;
      for (int r = 0; r < o->reps; ++r) tps.push_back(g / run_gen(g));
      Stats s = stats(tps);
      rows.push_back({"tg" + std::to_string(g), s, decode_weight_bytes(*model) * s.median / 1e9});
    }
    double rss = report::peak_rss_mib();
    if (o->json) {
      nlohmann::json out = nlohmann::json::array();
      for (const Row& r : rows) {
        bool pp = r.test[0] == 'p';
        out.push_back({{"test", r.test},
                       {"model", c.name},
                       {"model_path", eo.model_path},
                       {"threads", threads},
                       {"tokens_per_s_median", r.tps.median},
                       {"tokens_per_s_min", r.tps.min},
                       {"tokens_per_s_max", r.tps.max},
                       {pp ? "gflops_per_s" : "weight_gb_per_s", r.work_rate},
                       {"load_s", load_s},
                       {"peak_rss_mib", rss}});
      }
      std::printf("%s\n", out.dump(1).c_str());
    } else {
      std::printf("model: %s (%s, %s)  params: %.1f M  weights: %.1f MiB  threads: %d\n",
                  c.name.c_str(), c.arch.c_str(), eo.model_path.c_str(), model->n_params() / 1e6,
                  model->weight_bytes() / 1048576.0, threads);
      std::printf("load: %.3f s (mmap)   peak RSS: %.1f MiB   repetitions: %d\n", load_s, rss,
                  o->reps);
      std::printf("| %-7s | %12s | %12s | %12s | %18s |\n", "test", "t/s median", "t/s min",
                  "t/s max", "GFLOP/s | GB/s");
      std::printf(
          "|---------|--------------|--------------|--------------|--------------------|\n");
      for (const Row& r : rows) {
        std::printf("| %-7s | %12.2f | %12.2f | %12.2f | %13.1f %s |\n", r.test.c_str(),
                    r.tps.median, r.tps.min, r.tps.max, r.work_rate,
                    r.test[0] == 'p' ? "GF/s" : "GB/s");
      }
    }
    exit_code = 0;
  });
}

}  // namespace packinfer::cli
