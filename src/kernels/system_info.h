#pragma once
// What a benchmark or `packinfer info --system` says about the machine: CPU model, the CPU and
// OS features behind the instruction-set level, the level in use and why.
#include <string>

namespace packinfer {

// "model name" of /proc/cpuinfo ("unknown CPU" where there is none).
std::string cpu_model_name();

// One line for benchmark headers, e.g.
//   AMD EPYC 9755 (x86-64) · isa avx512_vnni (detected avx512_vnni) · 2 threads
// `threads` <= 0 prints the machine's hardware threads instead. Makes the instruction-set choice
// if it is not made yet (so it throws packinfer::Error for an invalid PACKINFER_ISA).
std::string system_summary(int threads = 0);

// Several "key: value" lines: CPU, features, XCR0 state, AMX permission, every level's status,
// the detected level and the level in use with the reason.
std::string system_report();

}  // namespace packinfer
