#pragma once
// `packinfer bench serve`: a load generator for OpenAI-compatible servers (a running one at
// --url, or `packinfer serve` started per configuration for on/off comparisons).
#include <CLI/CLI.hpp>

namespace packinfer::cli {

// Registers `serve` as a subcommand of the `bench` app.
void add_bench_serve_command(CLI::App& bench, int& exit_code);

}  // namespace packinfer::cli
