#include "batch/bin_packing.h"

#include <algorithm>
#include <numeric>
#include <set>
#include <string>
#include <utility>

#include "packinfer/error.h"

namespace packinfer {
namespace {

// Item indices by decreasing size; std::stable_sort keeps lower indices first among equals.
std::vector<int64_t> decreasing_order(std::span<const int64_t> sizes) {
  std::vector<int64_t> order(sizes.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return sizes[a] > sizes[b]; });
  return order;
}

// First fit needs "the leftmost bin with room >= s" fast: a max segment tree over the free room
// of every bin that could ever exist (at most one per item). Bins not opened yet hold the full
// capacity, so the leftmost fitting bin is an open one when any fits and otherwise the next
// unopened one: opening a bin needs no special case.
class RoomTree {
 public:
  RoomTree(int64_t n_leaves, int64_t capacity) {
    while (leaves_ < n_leaves) leaves_ *= 2;
    tree_.assign(static_cast<size_t>(2 * leaves_), capacity);
  }
  int64_t leftmost_with_room(int64_t need) const {
    if (tree_[1] < need) return -1;
    int64_t node = 1;
    while (node < leaves_) node = tree_[2 * node] >= need ? 2 * node : 2 * node + 1;
    return node - leaves_;
  }
  int64_t room(int64_t leaf) const { return tree_[leaves_ + leaf]; }
  void set_room(int64_t leaf, int64_t room) {
    int64_t node = leaves_ + leaf;
    tree_[node] = room;
    for (node /= 2; node >= 1; node /= 2)
      tree_[node] = std::max(tree_[2 * node], tree_[2 * node + 1]);
  }

 private:
  int64_t leaves_ = 1;
  std::vector<int64_t> tree_;
};

std::vector<std::vector<int64_t>> first_fit(std::span<const int64_t> sizes,
                                            const std::vector<int64_t>& order, int64_t capacity,
                                            int64_t max_items) {
  std::vector<std::vector<int64_t>> bins;
  RoomTree tree(static_cast<int64_t>(sizes.size()), capacity);
  for (int64_t item : order) {
    int64_t bin = tree.leftmost_with_room(sizes[item]);  // never -1: an unopened bin has room
    if (bin == static_cast<int64_t>(bins.size())) bins.emplace_back();
    bins[bin].push_back(item);
    bool full = max_items > 0 && static_cast<int64_t>(bins[bin].size()) >= max_items;
    // A bin that may take no more items gets room -1 so that no size (>= 1) fits it.
    tree.set_room(bin, full ? -1 : tree.room(bin) - sizes[item]);
  }
  return bins;
}

std::vector<std::vector<int64_t>> best_fit(std::span<const int64_t> sizes,
                                           const std::vector<int64_t>& order, int64_t capacity,
                                           int64_t max_items) {
  std::vector<std::vector<int64_t>> bins;
  std::set<std::pair<int64_t, int64_t>> open;  // (room, bin): least room first, then lowest bin
  for (int64_t item : order) {
    int64_t size = sizes[item];
    auto it = open.lower_bound({size, int64_t{-1}});
    int64_t bin, room;
    if (it == open.end()) {
      bin = static_cast<int64_t>(bins.size());
      room = capacity;
      bins.emplace_back();
    } else {
      bin = it->second;
      room = it->first;
      open.erase(it);
    }
    bins[bin].push_back(item);
    room -= size;
    bool full = max_items > 0 && static_cast<int64_t>(bins[bin].size()) >= max_items;
    if (!full && room > 0) open.insert({room, bin});
  }
  return bins;
}

}  // namespace

std::vector<std::vector<int64_t>> pack_decreasing(std::span<const int64_t> sizes, int64_t capacity,
                                                  int64_t max_items_per_bin, FitRule rule) {
  if (capacity < 1) throw InvalidArgument("bin capacity must be at least 1");
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 1 || sizes[i] > capacity) {
      throw InvalidArgument("item " + std::to_string(i) + " has size " + std::to_string(sizes[i]) +
                            ", outside [1, " + std::to_string(capacity) + "]");
    }
  }
  std::vector<int64_t> order = decreasing_order(sizes);
  return rule == FitRule::FirstFit ? first_fit(sizes, order, capacity, max_items_per_bin)
                                   : best_fit(sizes, order, capacity, max_items_per_bin);
}

}  // namespace packinfer
