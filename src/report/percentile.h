#pragma once
// Percentiles of a measured sample, shared by the benchmarks (llama-bench style min / median /
// max, serving latency p50 / p90 / p99) so every report computes them the same way.
#include <vector>

namespace packinfer::report {

// Percentile `p` in [0, 100] with linear interpolation between closest ranks (numpy's default);
// 0 for an empty sample.
double percentile(std::vector<double> sample, double p);

}  // namespace packinfer::report
