// `packinfer batch`: an offline job of many requests (OpenAI Batch API JSONL in and out).
#include <memory>

#include "batch_jobs/batch_job.h"
#include "cli/cli_common.h"
#include "cli/commands.h"

namespace packinfer::cli {

void add_batch_command(CLI::App& app, int& exit_code) {
  struct Opts {
    ModelOptions model;
    batch_jobs::BatchJobOptions job;
    std::string mode = "packed";
    bool no_plan = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "batch", "run a JSONL file of requests (OpenAI Batch API format) and write JSONL results");
  add_model_options(*sub, o->model);
  sub->add_option("-i,--input", o->job.input, "requests, one JSON object per line")->required();
  sub->add_option("-o,--output", o->job.output,
                  "results, one line per request (an existing file is resumed)")
      ->required();
  sub->add_option("--mode", o->mode, "prefill mode: packed, padded or single")
      ->check(CLI::IsMember({"packed", "padded", "single"}));
  sub->add_option("--max-batch-tokens", o->job.batch.max_batch_tokens,
                  "tokens per forward pass (default: -b)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  sub->add_option("--max-seqs", o->job.batch.max_seqs, "sequences decoding at once")
      ->check(CLI::Range(1, 1 << 16));
  sub->add_flag("--no-plan", o->no_plan, "keep the input order (no shared-prefix/long-first plan)");
  sub->callback([o, &exit_code] {
    o->job.batch.mode = parse_prefill_mode(o->mode);
    o->job.batch.plan_order = !o->no_plan;
    batch_jobs::BatchJob job(o->job);  // the files first, see BatchJob
    exit_code = job.run(engine_options(o->model));
  });
}

}  // namespace packinfer::cli
