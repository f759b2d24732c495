// `packinfer chat`: interactive conversation using the model's chat template.
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/cli_common.h"
#include "cli/commands.h"

namespace packinfer::cli {

void add_chat_command(CLI::App& app, int& exit_code) {
  struct Opts {
    ModelOptions model;
    SamplingParams sampling;
    std::string system;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("chat", "interactive chat (reads user turns from stdin)");
  add_model_options(*sub, o->model);
  o->sampling.max_tokens = 512;
  add_sampling_options(*sub, o->sampling);
  sub->add_option("--system", o->system, "system message");
  sub->callback([o, &exit_code] {
    Engine engine(engine_options(o->model));
    std::vector<ChatMessage> messages;
    if (!o->system.empty()) messages.push_back({"system", o->system});
    std::fprintf(stderr, "packinfer chat: %s (template %s). Empty line or Ctrl-D ends.\n",
                 engine.model_info().name.c_str(), engine.model_info().chat_template_name.c_str());
    std::string line;
    for (;;) {
      std::fputs("> ", stderr);
      if (!std::getline(std::cin, line) || line.empty()) break;
      messages.push_back({"user", line});
      GenerationRequest req;
      req.prompt = engine.apply_chat_template(messages, /*add_generation_prompt=*/true);
      req.add_special = true;
      req.sampling = o->sampling;
      GenerationResult r;
      try {
        r = engine.generate(req, [](std::string_view text) {
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
          return true;
        });
      } catch (const InvalidArgument& e) {
        std::fprintf(stderr, "\nerror: %s (conversation reset)\n", e.what());
        messages.clear();
        if (!o->system.empty()) messages.push_back({"system", o->system});
        continue;
      }
      std::fputc('\n', stdout);
      messages.push_back({"assistant", r.text});
    }
    exit_code = 0;
  });
}

}  // namespace packinfer::cli
