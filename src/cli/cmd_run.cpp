// `packinfer run`: generate from one prompt, streaming text to stdout.
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "util/text_file.h"

namespace packinfer::cli {

void add_run_command(CLI::App& app, int& exit_code) {
  struct Opts {
    ModelOptions model;
    SamplingParams sampling;
    std::string prompt;
    std::string prompt_file;
    bool no_special = false;
    bool timings = false;
    std::string json_schema_file;
    std::string grammar_file;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("run", "generate text from a prompt (streams to stdout)");
  add_model_options(*sub, o->model);
  add_sampling_options(*sub, o->sampling);
  sub->add_option("-p,--prompt", o->prompt, "prompt text");
  sub->add_option("-f,--file", o->prompt_file, "read the prompt from a file");
  sub->add_flag("--no-parse-special", o->no_special,
                "treat special-token text in the prompt as plain text");
  sub->add_flag("--timings", o->timings, "print prompt and generation speed to stderr");
  CLI::Option* schema =
      sub->add_option("--json-schema", o->json_schema_file,
                      "constrain the output to the instances of the JSON schema in this file");
  sub->add_option("--grammar-file", o->grammar_file,
                  "constrain the output to the GBNF grammar in this file")
      ->excludes(schema);
  sub->callback([o, &exit_code] {
    Engine engine(engine_options(o->model));
    GenerationRequest req;
    req.prompt = o->prompt_file.empty() ? o->prompt : read_text_file(o->prompt_file);
    req.parse_special = !o->no_special;
    req.sampling = o->sampling;
    if (!o->json_schema_file.empty()) {
      req.sampling.structured.kind = StructuredOutput::Kind::JsonSchema;
      req.sampling.structured.text = read_text_file(o->json_schema_file);
    } else if (!o->grammar_file.empty()) {
      req.sampling.structured.kind = StructuredOutput::Kind::Grammar;
      req.sampling.structured.text = read_text_file(o->grammar_file);
    }
    GenerationResult r = engine.generate(req, [](std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::fputc('\n', stdout);
    if (o->timings) {
      std::fprintf(stderr, "prompt: %zu tokens in %.3f s (%.1f tokens/s)\n", r.prompt_ids.size(),
                   r.prompt_seconds, r.prompt_ids.size() / std::max(1e-9, r.prompt_seconds));
      std::fprintf(stderr, "generated: %zu tokens in %.3f s (%.1f tokens/s), finish: %s\n",
                   r.output_ids.size(), r.generate_seconds,
                   r.output_ids.size() / std::max(1e-9, r.generate_seconds),
                   r.finish_reason.c_str());
    }
    exit_code = 0;
  });
}

}  // namespace packinfer::cli
