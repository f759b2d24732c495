#include "support/test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace packinfer::test {

std::string shared_dir() {
  if (const char* e = std::getenv("PACKINFER_SHARED")) return e;
  return fs::weakly_canonical(PACKINFER_SHARED_DIR).string();
}

std::string build_dir() { return PACKINFER_BUILD_DIR; }
std::string cli_path() { return PACKINFER_CLI_PATH; }

CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 65536> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string synth_model(const std::string& preset, const std::string& dtype,
                        const std::string& extra_args) {
  fs::path dir = fs::path(build_dir()) / "models";
  fs::create_directories(dir);
  std::string suffix;
  for (char c : extra_args) suffix += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  fs::path out = dir / (preset + "-" + dtype + (suffix.empty() ? "" : "-" + suffix) + ".gguf");
  if (fs::exists(out)) return out.string();
  // Generate under a unique name, then rename: tests running in parallel never see a partial file.
  fs::path tmp = dir / (out.filename().string() + ".tmp" + std::to_string(::getpid()));
  std::string cmd = "python3 '" + shared_dir() + "/tools/synth_gguf.py' -q --preset " + preset +
                    " --dtype " + dtype + " " + extra_args + " -o '" + tmp.string() + "' 2>&1";
  CommandResult r = run_command(cmd);
  if (r.status != 0) throw std::runtime_error("synth_gguf.py failed: " + r.out);
  fs::rename(tmp, out);
  return out.string();
}

std::string golden_model_path(const std::string& golden_model) {
  if (golden_model.rfind("stories260K", 0) == 0)
    return shared_dir() + "/models/stories260K/" + golden_model + ".gguf";
  auto dash = golden_model.find('-', golden_model.rfind("smollm2-135m", 0) == 0 ? 12 : 0);
  std::string preset = golden_model.substr(0, dash);
  std::string dtype = golden_model.substr(dash + 1);
  if (dtype == "Q4_K_M" || dtype == "Q5_K_M" || dtype == "Q6_K")
    return shared_dir() + "/models/synthetic/" + golden_model + ".gguf";
  return synth_model(preset, dtype);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

std::string sha256_file(const std::string& path) {
  CommandResult r = run_command("sha256sum '" + path + "'");
  if (r.status != 0 || r.out.size() < 64) throw std::runtime_error("sha256sum failed for " + path);
  return r.out.substr(0, 64);
}

std::vector<std::string> golden_models() {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(shared_dir() + "/golden")) {
    if (e.is_directory() && fs::exists(e.path() / "index.json")) out.push_back(e.path().filename());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> golden_cases(const std::string& golden_model) {
  nlohmann::json idx = read_json(shared_dir() + "/golden/" + golden_model + "/index.json");
  std::vector<std::string> out;
  for (auto& c : idx.at("cases"))
    out.push_back(c.is_string() ? c.get<std::string>() : c.at("case").get<std::string>());
  return out;
}

nlohmann::json golden_case(const std::string& golden_model, const std::string& case_name) {
  return read_json(shared_dir() + "/golden/" + golden_model + "/" + case_name + ".json");
}

std::string story_opening() {
  return "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
         "park with her friends. One day, ";
}

std::vector<std::string> prompts_sharing_the_opening(size_t n) {
  const char* endings[] = {"she saw a dog.", "the sun was hot.",  "Tom came to play.",
                           "a bird sang.",   "it began to rain.", "her mom called."};
  std::vector<std::string> out;
  for (size_t i = 0; i < n && i < std::size(endings); ++i)
    out.push_back(story_opening() + endings[i]);
  return out;
}

}  // namespace packinfer::test
