#pragma once
// `bench serve --rounds N`: the configurations of a comparison run N times, alternating, and the
// summary of all rounds. On a shared or throttled machine the speed drifts within minutes, and
// the two servers of one round run at different moments, so a single round's ratio can be off
// by 10-20%; the median of the per-round ratios is what a comparison should quote.
#include <cstdio>
#include <vector>

#include "loadgen/serve_report.h"

namespace packinfer::loadgen {

// rounds[r][c]: configuration c of round r (every round has the same configurations). Prints
// each configuration's key figures per round with their medians, and with two configurations
// the median of the per-round ratios.
void print_rounds_summary(std::FILE* out,
                          const std::vector<std::vector<ServeConfigResult>>& rounds);

}  // namespace packinfer::loadgen
