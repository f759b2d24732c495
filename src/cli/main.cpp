// packinfer command line: thin dispatch to subcommands; all work happens in the library.
#include <cstdio>

#include "cli/cmd_router.h"
#include "cli/commands.h"
#include "packinfer/error.h"

int main(int argc, char** argv) {
  CLI::App app{"packinfer: fast, memory-lean LLM prefill and generation on CPUs"};
  app.require_subcommand(1);
  int exit_code = 0;
  packinfer::cli::add_run_command(app, exit_code);
  packinfer::cli::add_chat_command(app, exit_code);
  packinfer::cli::add_info_command(app, exit_code);
  packinfer::cli::add_logits_command(app, exit_code);
  packinfer::cli::add_bench_command(app, exit_code);
  packinfer::cli::add_batch_command(app, exit_code);
  packinfer::cli::add_serve_command(app, exit_code);
  packinfer::cli::add_router_command(app, exit_code);
  packinfer::cli::add_kld_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
