#pragma once
// Offline one-dimensional bin packing, the core of prepacking: items (prompt pieces, sized in
// tokens) go into bins (forward passes) of a fixed token capacity, optionally with a cap on the
// number of items per bin (sequences per forward). Both classic "decreasing" heuristics are
// offered; each is within 11/9 OPT + 1 bins and runs in O(n log n).
#include <cstdint>
#include <span>
#include <vector>

namespace packinfer {

enum class FitRule {
  FirstFit,  // the lowest-numbered open bin with room
  BestFit,   // the open bin left with the least room (lowest number on ties)
};

// Places items in decreasing size order (ties: lower item index first, so the result depends on
// the input only) and returns the bins in the order they were opened, each listing its item
// indices in placement order. Every size must be in [1, capacity]; max_items_per_bin <= 0 means
// no cap. Throws InvalidArgument otherwise.
std::vector<std::vector<int64_t>> pack_decreasing(std::span<const int64_t> sizes, int64_t capacity,
                                                  int64_t max_items_per_bin, FitRule rule);

}  // namespace packinfer
