#pragma once
// Shared by the Google-benchmark drivers: which instruction-set levels to measure, skipping the
// ones this machine cannot run, and a main() that records the machine in the benchmark context.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "kernels/isa_select.h"
#include "kernels/kernel_table.h"
#include "kernels/system_info.h"

namespace packinfer::bench {

// The levels whose table entry `get(table)` differs from the level below (scalar always): the
// levels with a kernel of their own for it. Inherited entries would only measure the same code
// again.
template <class Get>
std::vector<Isa> levels_with_own(Get get) {
  std::vector<Isa> out = {Isa::Scalar};
  for (int i = 1; i < kIsaCount; ++i) {
    if (get(kernels_for(kAllIsas[i])) != get(kernels_for(kAllIsas[i - 1])))
      out.push_back(kAllIsas[i]);
  }
  return out;
}

// True if the benchmark may run `isa` here; otherwise marks it skipped, naming the level.
inline bool level_runs(benchmark::State& state, Isa isa) {
  if (isa_supported(isa)) return true;
  state.SkipWithError(("CPU lacks " + std::string(isa_name(isa))).c_str());
  return false;
}

}  // namespace packinfer::bench

// BENCHMARK_MAIN plus the machine (CPU, instruction-set level in use and detected) in the
// context printed above the results and stored in --benchmark_format=json output.
#define PACKINFER_BENCHMARK_MAIN()                                                \
  int main(int argc, char** argv) {                                               \
    benchmark::Initialize(&argc, argv);                                           \
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;             \
    benchmark::AddCustomContext("packinfer_system", packinfer::system_summary()); \
    benchmark::RunSpecifiedBenchmarks();                                          \
    benchmark::Shutdown();                                                        \
    return 0;                                                                     \
  }
