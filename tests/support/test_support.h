#pragma once
// Helpers shared by the tests: where ../shared is, synthetic models generated on demand into the
// build tree (never committed), golden case files, and sha256 of model files.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace packinfer::test {

std::string shared_dir();  // absolute path of ../shared (or $PACKINFER_SHARED)
std::string build_dir();
std::string cli_path();  // the packinfer executable

// Path of a synthetic model (preset e.g. "tiny", dtype "f32"), generated with
// shared/tools/synth_gguf.py into <build>/models on first use. Safe when tests run in parallel.
std::string synth_model(const std::string& preset, const std::string& dtype,
                        const std::string& extra_args = "");

// Path of the model file a golden directory (e.g. "tiny-q8_0", "stories260K-f32") refers to.
std::string golden_model_path(const std::string& golden_model);

nlohmann::json read_json(const std::string& path);
std::string read_file(const std::string& path);
std::string sha256_file(const std::string& path);

// Prompts that share a story opening (several KV blocks long on stories260K) and then go on
// differently, for prefix-cache tests: the opening and up to 6 prompts.
std::string story_opening();
std::vector<std::string> prompts_sharing_the_opening(size_t n);

// Names of the golden model directories and the cases of each.
std::vector<std::string> golden_models();
std::vector<std::string> golden_cases(const std::string& golden_model);
nlohmann::json golden_case(const std::string& golden_model, const std::string& case_name);

// Runs a shell command, returns exit status and captures stdout (and stderr if asked).
struct CommandResult {
  int status = -1;
  std::string out;
};
CommandResult run_command(const std::string& cmd);

}  // namespace packinfer::test
