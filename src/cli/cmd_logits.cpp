// `packinfer logits`: the prompt's token ids, the top-K logits at every position and the full
// logit vector of the last position, as one JSON object (the tool our golden checks use).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "util/text_file.h"

namespace packinfer::cli {
namespace {

// The k largest logits as [id, logit], highest first, ties by lower id.
nlohmann::json top_k(std::span<const float> logits, int k) {
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  k = std::min<int>(k, static_cast<int>(ids.size()));
  auto better = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), better);
  nlohmann::json out = nlohmann::json::array();
  for (int i = 0; i < k; ++i) out.push_back({ids[i], logits[ids[i]]});
  return out;
}

}  // namespace

void add_logits_command(CLI::App& app, int& exit_code) {
  struct Opts {
    ModelOptions model;
    std::string prompt, prompt_file;
    int top = 10;
    bool json = false;
    bool no_special = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "logits", "print prompt ids, top-K logits per position and the last logits");
  add_model_options(*sub, o->model);
  sub->add_option("-p,--prompt", o->prompt, "prompt text");
  sub->add_option("-f,--file", o->prompt_file, "read the prompt from a file");
  sub->add_option("--top", o->top, "logits per position")->check(CLI::Range(1, 1000));
  sub->add_flag("--json", o->json, "print JSON (the only format)");
  sub->add_flag("--no-parse-special", o->no_special, "treat special-token text as plain text");
  sub->callback([o, &exit_code] {
    Engine engine(engine_options(o->model));
    std::string text = o->prompt_file.empty() ? o->prompt : read_text_file(o->prompt_file);
    std::vector<int32_t> ids = engine.tokenize(text, true, !o->no_special);
    nlohmann::json top = nlohmann::json::array();
    std::vector<float> last;
    engine.prompt_logits(ids, [&](int64_t pos, std::span<const float> logits) {
      top.push_back(top_k(logits, o->top));
      if (pos + 1 == static_cast<int64_t>(ids.size())) last.assign(logits.begin(), logits.end());
    });
    nlohmann::json out;
    out["prompt_ids"] = ids;
    out["top"] = std::move(top);
    out["last_logits"] = last;
    std::string s = out.dump();
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fputc('\n', stdout);
    exit_code = 0;
  });
}

}  // namespace packinfer::cli
