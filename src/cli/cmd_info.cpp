// `packinfer info MODEL`: GGUF metadata and a tensor summary.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "gguf/gguf_describe.h"
#include "gguf/gguf_file.h"

namespace packinfer::cli {

void add_info_command(CLI::App& app, int& exit_code) {
  struct Opts {
    std::string path;
    bool all = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("info", "print a GGUF file's metadata and tensor summary");
  sub->add_option("model", o->path, "GGUF file")->required();
  sub->add_flag("--tensors", o->all, "list every tensor");
  sub->callback([o, &exit_code] {
    auto file = gguf::File::open(o->path);
    std::string text = describe_gguf(*file, o->all);
    std::fwrite(text.data(), 1, text.size(), stdout);
    exit_code = 0;
  });
}

}  // namespace packinfer::cli
