#pragma once
// The packinfer subcommands. Each registers a CLI11 subcommand whose callback runs it and stores
// the process exit code in `exit_code`.
#include <CLI/CLI.hpp>

namespace packinfer::cli {

void add_run_command(CLI::App& app, int& exit_code);
void add_chat_command(CLI::App& app, int& exit_code);
void add_info_command(CLI::App& app, int& exit_code);
void add_logits_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);
void add_batch_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_kld_command(CLI::App& app, int& exit_code);

}  // namespace packinfer::cli
