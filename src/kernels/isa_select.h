#pragma once
// Which instruction-set level the kernels use: the highest level the CPU and the OS both allow
// (detect_isa), lowered on request by PACKINFER_ISA=<level> (choose_isa). Decided once per
// process, at the first kernel call, and fixed from then on.
//
// detect_isa and choose_isa are pure functions of the features and the environment strings, so
// tests can feed them any machine; isa_choice() applies them to this machine and this process.
#include <array>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/isa.h"

namespace packinfer {

struct LevelStatus {
  bool usable = false;    // this level and every level below it can run here
  std::string cpu_lacks;  // CPUID features of this level the CPU does not have ("" if none)
  std::string refused;    // what the OS refused although the CPU has it ("" if nothing)
};

struct IsaDetection {
  Isa level = Isa::Scalar;  // the highest usable level
  std::array<LevelStatus, kIsaCount> levels;
};

IsaDetection detect_isa(const CpuFeatures& f);

struct IsaChoice {
  IsaDetection detection;
  Isa detected = Isa::Scalar;  // detection.level
  Isa active = Isa::Scalar;    // the level the kernels use
  std::string reason;          // why `active`: "detected", "PACKINFER_ISA=avx2", ...
  // One line each, for stderr: a level the OS refused, a PACKINFER_ISA above the detected level.
  std::vector<std::string> notices;
};

// `isa_env` and `no_avx2_env` are the values of PACKINFER_ISA and PACKINFER_NO_AVX2 (nullptr when
// unset). PACKINFER_ISA may only lower the level: a level above the detected one gives a notice
// and the detected level. An empty PACKINFER_ISA counts as unset; PACKINFER_NO_AVX2 (any value)
// is the old spelling of PACKINFER_ISA=scalar. Throws packinfer::Error, listing the valid names,
// for a name that is no level.
IsaChoice choose_isa(const CpuFeatures& f, const char* isa_env, const char* no_avx2_env);

// This process's choice: made at the first call (thread-safe), which also prints the notices to
// stderr. Throws packinfer::Error for an invalid PACKINFER_ISA, at every call.
const IsaChoice& isa_choice();
Isa active_isa();

// The highest level this machine runs, whatever the environment says; never throws. Tests use
// it to skip levels the machine lacks.
Isa detected_isa();
bool isa_supported(Isa isa);

}  // namespace packinfer
