// `packinfer kld`: KL divergence of a configuration's next-token distributions from the exact
// path's, on a text, in the manner of llama-perplexity --kl-divergence (src/eval/kld_eval.h).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "eval/kld_eval.h"
#include "util/text_file.h"

namespace packinfer::cli {
namespace {

nlohmann::json to_json(const eval::KldSummary& s) {
  return {
      {"positions", s.positions}, {"kl_mean", s.kl_mean},   {"kl_median", s.kl_median},
      {"kl_p99", s.kl_p99},       {"kl_max", s.kl_max},     {"ppl_base", s.ppl_base},
      {"ppl_test", s.ppl_test},   {"ppl_diff", s.ppl_diff}, {"top1_agreement", s.top1_agreement}};
}

void print_row(const char* label, const eval::KldSummary& s) {
  std::printf("| %-7s | %9lld | %10.6f | %10.6f | %10.6f | %10.4f | %10.4f | %+9.4f | %7.2f%% |\n",
              label, static_cast<long long>(s.positions), s.kl_mean, s.kl_median, s.kl_p99,
              s.ppl_base, s.ppl_test, s.ppl_diff, 100.0 * s.top1_agreement);
}

}  // namespace

void add_kld_command(CLI::App& app, int& exit_code) {
  struct Opts {
    ModelOptions model;
    std::string text_file, save_base, base;
    eval::KldOptions kld;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "kld", "KL divergence and top-token agreement of a configuration against the exact path");
  add_model_options(*sub, o->model);
  sub->add_option("-f,--file", o->text_file, "text to evaluate")->required();
  sub->add_option("--chunk", o->kld.chunk, "tokens per chunk (second half scored)")
      ->check(CLI::Range(int64_t{4}, int64_t{1} << 22));
  sub->add_option("--chunks", o->kld.max_chunks, "evaluate at most this many chunks (0 = all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  sub->add_option("--save-base", o->save_base,
                  "compute the exact path's log-probabilities, save them to FILE and stop");
  sub->add_option("--base", o->base, "compare against a base saved with --save-base");
  sub->add_flag("--json", o->json, "print JSON instead of a table");
  sub->callback([o, &exit_code] {
    if (!o->save_base.empty() && !o->base.empty())
      throw InvalidArgument("--save-base and --base cannot be used together");
    const EngineOptions test_options = engine_options(o->model);
    const std::string text = read_text_file(o->text_file);
    eval::KldBase base;
    if (o->base.empty()) {
      Engine exact(eval::exact_options(test_options));
      int64_t n_chunks = 0;
      std::vector<int32_t> tokens = eval::chunk_tokens(exact, text, o->kld, &n_chunks);
      base = eval::compute_base(exact, tokens, o->kld.chunk, n_chunks);
      if (!o->save_base.empty()) {
        eval::save_base(base, o->save_base);
        std::fprintf(stderr,
                     "saved the exact path's log-probabilities of %lld chunks of %lld "
                     "tokens to %s\n",
                     static_cast<long long>(n_chunks), static_cast<long long>(o->kld.chunk),
                     o->save_base.c_str());
        exit_code = 0;
        return;
      }
    }
    Engine test(test_options);
    if (!o->base.empty()) base = eval::load_base(o->base, test);
    const eval::KldReport r = eval::compare(test, base);
    if (o->json) {
      nlohmann::json out;
      out["model"] = test.model_info().path;
      out["chunk"] = base.chunk;
      out["n_chunks"] = base.n_chunks;
      out["chunks"] = nlohmann::json::array();
      for (const auto& c : r.chunks) out["chunks"].push_back(to_json(c));
      out["overall"] = to_json(r.overall);
      std::printf("%s\n", out.dump(1).c_str());
    } else {
      std::printf("model: %s  chunks: %lld x %lld tokens (second half scored)\n",
                  test.model_info().path.c_str(), static_cast<long long>(base.n_chunks),
                  static_cast<long long>(base.chunk));
      std::printf("| %-7s | %9s | %10s | %10s | %10s | %10s | %10s | %9s | %8s |\n", "chunk",
                  "positions", "KL mean", "KL median", "KL p99", "PPL base", "PPL test", "PPL diff",
                  "top-1");
      std::printf(
          "|---------|-----------|------------|------------|------------|------------|"
          "------------|-----------|----------|\n");
      for (size_t c = 0; c < r.chunks.size(); ++c) {
        print_row(std::to_string(c + 1).c_str(), r.chunks[c]);
      }
      print_row("all", r.overall);
    }
    exit_code = 0;
  });
}

}  // namespace packinfer::cli
