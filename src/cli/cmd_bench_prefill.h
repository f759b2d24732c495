#pragma once
// `packinfer bench prefill`: batch TTFT, throughput and peak memory of packed vs padded vs
// one-at-a-time prefill on one batch of prompts (or a sweep of batch sizes).
#include <CLI/CLI.hpp>

namespace packinfer::cli {

// Registers `prefill` as a subcommand of the `bench` app.
void add_bench_prefill_command(CLI::App& bench, int& exit_code);

}  // namespace packinfer::cli
