#include "kv/block_pool.h"

#include <stdexcept>

#include "packinfer/error.h"

namespace packinfer {

BlockPool::BlockPool(int32_t n_blocks) : refcount_(static_cast<size_t>(n_blocks), 0) {
  free_.reserve(static_cast<size_t>(n_blocks));
  // Hand out low block ids first so a small job touches only the start of the KV memory.
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int32_t BlockPool::allocate() {
  if (free_.empty()) return -1;
  int32_t b = free_.back();
  free_.pop_back();
  refcount_[static_cast<size_t>(b)] = 1;
  return b;
}

void BlockPool::retain(int32_t block) {
  int32_t& rc = refcount_.at(static_cast<size_t>(block));
  if (rc <= 0) throw Error("KV block " + std::to_string(block) + " retained while free");
  ++rc;
}

void BlockPool::release(int32_t block) {
  int32_t& rc = refcount_.at(static_cast<size_t>(block));
  if (rc <= 0) throw Error("KV block " + std::to_string(block) + " released twice");
  if (--rc == 0) free_.push_back(block);
}

}  // namespace packinfer
