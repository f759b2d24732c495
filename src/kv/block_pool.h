#pragma once
// Allocation of fixed-size KV blocks. Blocks are reference counted so that later a block can be
// shared read-only by several sequences (prefix reuse); a block returns to the free list when its
// last reference is released. used + free == total always holds.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace packinfer {

class BlockPool {
 public:
  explicit BlockPool(int32_t n_blocks);

  // A free block with refcount 1, or -1 when none is left.
  int32_t allocate();
  void retain(int32_t block);
  void release(int32_t block);

  int32_t n_total() const { return static_cast<int32_t>(refcount_.size()); }
  int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t n_used() const { return n_total() - n_free(); }
  int32_t refcount(int32_t block) const { return refcount_.at(static_cast<size_t>(block)); }

 private:
  std::vector<int32_t> refcount_;
  std::vector<int32_t> free_;  // stack: most recently freed first (its pages are warm)
};

}  // namespace packinfer
