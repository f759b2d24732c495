// `packinfer info MODEL`: GGUF metadata and a tensor summary. `packinfer info --system`: the CPU,
// its features and the instruction-set level the kernels use (no model needed).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "gguf/gguf_describe.h"
#include "gguf/gguf_file.h"
#include "kernels/system_info.h"
#include "packinfer/error.h"

namespace packinfer::cli {

void add_info_command(CLI::App& app, int& exit_code) {
  struct Opts {
    std::string path;
    bool all = false;
    bool system = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "info", "print a GGUF file's metadata and tensor summary, or (--system) this machine's");
  sub->add_option("model", o->path, "GGUF file");
  sub->add_flag("--tensors", o->all, "list every tensor");
  sub->add_flag("--system", o->system,
                "print the CPU, its features and the instruction-set level in use");
  sub->callback([o, &exit_code] {
    if (o->path.empty() && !o->system) throw InvalidArgument("info: give a GGUF file or --system");
    if (o->system) {
      const std::string text = system_report();
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
    if (!o->path.empty()) {
      if (o->system) std::fputc('\n', stdout);
      auto file = gguf::File::open(o->path);
      std::string text = describe_gguf(*file, o->all);
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
    exit_code = 0;
  });
}

}  // namespace packinfer::cli
