#include "kv/block_pool.h"

#include <algorithm>
#include <string>

#include "packinfer/error.h"

namespace packinfer {
namespace {

std::string name(int32_t block) { return "KV block " + std::to_string(block); }

}  // namespace

BlockPool::BlockPool(int32_t n_blocks)
    : refcount_(static_cast<size_t>(n_blocks), 0),
      registered_(static_cast<size_t>(n_blocks), 0),
      lru_prev_(static_cast<size_t>(n_blocks), -1),
      lru_next_(static_cast<size_t>(n_blocks), -1),
      touched_(static_cast<size_t>(n_blocks), 0) {
  free_.reserve(static_cast<size_t>(n_blocks));
  // Hand out low block ids first so a small job touches only the start of the KV memory.
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int32_t BlockPool::allocate() {
  int32_t b = -1;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (lru_head_ >= 0) {
    b = lru_head_;
    lru_remove(b);
    evict(b);
  } else {
    return -1;
  }
  refcount_[static_cast<size_t>(b)] = 1;
  if (!touched_[static_cast<size_t>(b)]) {
    touched_[static_cast<size_t>(b)] = 1;
    ++n_touched_;
  }
  return b;
}

void BlockPool::forget_touched() {
  std::fill(touched_.begin(), touched_.end(), 0);
  n_touched_ = 0;
}

void BlockPool::retain(int32_t block) {
  int32_t& rc = refcount_.at(static_cast<size_t>(block));
  if (rc == 0) {
    if (!registered(block)) throw Error(name(block) + " retained while free");
    lru_remove(block);  // a prefix hit: cached -> used
  }
  ++rc;
}

void BlockPool::release(int32_t block) {
  int32_t& rc = refcount_.at(static_cast<size_t>(block));
  if (rc <= 0) throw Error(name(block) + " released twice");
  if (--rc > 0) return;
  if (registered(block)) {
    lru_push_back(block);
  } else {
    free_.push_back(block);
  }
}

void BlockPool::set_registered(int32_t block) {
  if (refcount(block) <= 0) throw Error(name(block) + " registered while not in use");
  registered_[static_cast<size_t>(block)] = 1;
}

void BlockPool::drop_cached() {
  while (lru_head_ >= 0) {
    const int32_t b = lru_head_;
    lru_remove(b);
    evict(b);
    free_.push_back(b);
  }
}

std::vector<int32_t> BlockPool::cached_lru() const {
  std::vector<int32_t> out;
  for (int32_t b = lru_head_; b >= 0; b = lru_next_[static_cast<size_t>(b)]) out.push_back(b);
  return out;
}

void BlockPool::lru_push_back(int32_t block) {
  const auto i = static_cast<size_t>(block);
  lru_prev_[i] = lru_tail_;
  lru_next_[i] = -1;
  if (lru_tail_ >= 0) {
    lru_next_[static_cast<size_t>(lru_tail_)] = block;
  } else {
    lru_head_ = block;
  }
  lru_tail_ = block;
  ++n_cached_;
}

void BlockPool::lru_remove(int32_t block) {
  const auto i = static_cast<size_t>(block);
  const int32_t p = lru_prev_[i];
  const int32_t n = lru_next_[i];
  if (p >= 0) {
    lru_next_[static_cast<size_t>(p)] = n;
  } else {
    lru_head_ = n;
  }
  if (n >= 0) {
    lru_prev_[static_cast<size_t>(n)] = p;
  } else {
    lru_tail_ = p;
  }
  lru_prev_[i] = lru_next_[i] = -1;
  --n_cached_;
}

void BlockPool::evict(int32_t block) {
  registered_[static_cast<size_t>(block)] = 0;
  if (evict_hook_) evict_hook_(block);
}

void BlockPool::check_invariants() const {
  const int32_t n = n_total();
  // 0 = not seen, 1 = in the free list, 2 = in the LRU list.
  std::vector<uint8_t> seen(static_cast<size_t>(n), 0);
  for (int32_t b : free_) {
    if (b < 0 || b >= n) throw Error("free list holds invalid block " + std::to_string(b));
    if (seen[static_cast<size_t>(b)] != 0) throw Error(name(b) + " is twice in the free list");
    seen[static_cast<size_t>(b)] = 1;
  }
  int32_t cached = 0;
  int32_t prev = -1;
  for (int32_t b = lru_head_; b >= 0; b = lru_next_[static_cast<size_t>(b)]) {
    if (b >= n) throw Error("LRU list holds invalid block " + std::to_string(b));
    if (seen[static_cast<size_t>(b)] != 0) throw Error(name(b) + " is free and cached at once");
    if (lru_prev_[static_cast<size_t>(b)] != prev) throw Error("LRU list links are broken");
    seen[static_cast<size_t>(b)] = 2;
    prev = b;
    if (++cached > n) throw Error("LRU list has a cycle");
  }
  if (prev != lru_tail_) throw Error("LRU tail is not the last cached block");
  if (cached != n_cached_) throw Error("cached count disagrees with the LRU list");
  int32_t used = 0;
  for (int32_t b = 0; b < n; ++b) {
    const int32_t rc = refcount_[static_cast<size_t>(b)];
    const uint8_t s = seen[static_cast<size_t>(b)];
    const bool reg = registered_[static_cast<size_t>(b)] != 0;
    if (rc < 0) throw Error(name(b) + " has a negative refcount");
    if (rc > 0 && s != 0) throw Error(name(b) + " is used but listed as free or cached");
    if (rc == 0 && s == 0) throw Error(name(b) + " is unreferenced but neither free nor cached");
    if (s == 1 && reg) throw Error(name(b) + " is free but still registered");
    if (s == 2 && !reg) throw Error(name(b) + " is cached but not registered");
    if (rc > 0) ++used;
  }
  if (used + n_free() + n_cached() != n || used != n_used()) {
    throw Error("block accounting: used " + std::to_string(used) + " + free " +
                std::to_string(n_free()) + " + cached " + std::to_string(n_cached()) +
                " != total " + std::to_string(n));
  }
}

}  // namespace packinfer
