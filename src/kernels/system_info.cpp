#include "kernels/system_info.h"

#include <cstdio>
#include <fstream>
#include <thread>

#include "kernels/cpu_features.h"
#include "kernels/isa_select.h"

namespace packinfer {
namespace {

constexpr const char* kArch =
#if defined(__x86_64__)
    "x86-64";
#elif defined(__aarch64__)
    "aarch64";
#else
    "unknown architecture";
#endif

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  const size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string amx_permission_text(const CpuFeatures& f) {
  switch (f.amx_permission) {
    case AmxPermission::Granted:
      return "tile data permission granted";
    case AmxPermission::Refused:
      return "refused: " + f.amx_refusal;
    case AmxPermission::NotAsked:
      break;
  }
  return "not requested (CPU or OS state lacks AMX)";
}

}  // namespace

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos) return trim(line.substr(colon + 1));
  }
  return "unknown CPU";
}

std::string system_summary(int threads) {
  const IsaChoice& c = isa_choice();
  const bool hw = threads <= 0;
  const unsigned n = hw ? std::thread::hardware_concurrency() : static_cast<unsigned>(threads);
  return cpu_model_name() + " (" + kArch + ") · isa " + std::string(isa_name(c.active)) +
         " (detected " + std::string(isa_name(c.detected)) + ") · " + std::to_string(n) +
         (hw ? " hardware thread" : " thread") + (n == 1 ? "" : "s");
}

std::string system_report() {
  const CpuFeatures& f = cpu_features();
  const IsaChoice& c = isa_choice();
  std::string levels;
  for (Isa isa : kAllIsas) {
    const LevelStatus& s = c.detection.levels[isa_index(isa)];
    if (!levels.empty()) levels += "\n             ";
    levels += std::string(isa_name(isa)) + ": ";
    if (s.usable) {
      levels += "yes";
    } else if (!s.cpu_lacks.empty()) {
      levels += "no (CPU lacks " + s.cpu_lacks + ")";
    } else if (!s.refused.empty()) {
      levels += "no (" + s.refused + ")";
    } else {
      levels += "no (needs the level below)";
    }
  }
  std::string r;
  r += "cpu:         " + cpu_model_name() + " (" + kArch + "), " +
       std::to_string(std::thread::hardware_concurrency()) + " hardware threads\n";
  r += "features:    " + cpu_feature_names(f) + "\n";
  r += "os state:    XCR0 " + xcr0_hex(f.xcr0) + " (" + xcr0_state_names(f.xcr0) + ")\n";
  r += "amx:         " + amx_permission_text(f) + "\n";
  r += "levels:      " + levels + "\n";
  r += "detected:    " + std::string(isa_name(c.detected)) + "\n";
  r += "in use:      " + std::string(isa_name(c.active)) + " (" + c.reason + ")\n";
  return r;
}

}  // namespace packinfer
