#pragma once
// `packinfer router` (cmd_router.cpp).
#include <CLI/CLI.hpp>

namespace packinfer::cli {

void add_router_command(CLI::App& app, int& exit_code);

}  // namespace packinfer::cli
