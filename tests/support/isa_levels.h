#pragma once
// Kernel tests run once per instruction-set level (gtest value parameter), comparing the level's
// table with the scalar reference. A level this machine cannot run (CPU or OS) is skipped with a
// message naming it, never passed silently. Whether a level runs is what the hardware and OS
// allow (detected_isa), not PACKINFER_ISA, which only chooses what the engine uses.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/isa_select.h"
#include "kernels/kernel_table.h"

namespace packinfer::test {

inline std::vector<Isa> all_levels() { return {kAllIsas.begin(), kAllIsas.end()}; }

// "avx512_vnni": test names read Levels/avx512_vnni.
inline std::string level_param_name(const testing::TestParamInfo<Isa>& info) {
  return std::string(isa_name(info.param));
}

// Why this machine cannot run `isa`, "" if it can.
inline std::string level_missing(Isa isa) {
  if (isa_supported(isa)) return "";
  const IsaDetection d = detect_isa(cpu_features());
  for (Isa l : kAllIsas) {
    const LevelStatus& s = d.levels[isa_index(l)];
    if (s.usable) continue;
    // The first level that fails says why every level above it fails too.
    const std::string what = l == isa ? "" : " (needs " + std::string(isa_name(l)) + ")";
    if (!s.cpu_lacks.empty())
      return "CPU lacks " + std::string(isa_name(isa)) + what + ": no " + s.cpu_lacks;
    return "OS refuses " + std::string(isa_name(isa)) + what + ": " + s.refused;
  }
  return "machine lacks " + std::string(isa_name(isa));
}

// Skips the current test unless the machine runs `isa`.
#define PACKINFER_REQUIRE_LEVEL(isa)                                    \
  do {                                                                  \
    const std::string missing_ = ::packinfer::test::level_missing(isa); \
    if (!missing_.empty()) GTEST_SKIP() << missing_;                    \
  } while (0)

// Fixture of the tests parameterized by level: skips unsupported levels in SetUp.
class LevelTest : public testing::TestWithParam<Isa> {
 protected:
  void SetUp() override { PACKINFER_REQUIRE_LEVEL(GetParam()); }
  Isa level() const { return GetParam(); }
  const KernelTable& kt() const { return kernels_for(GetParam()); }
  static const KernelTable& ref() { return kernels_for(Isa::Scalar); }
};

}  // namespace packinfer::test
