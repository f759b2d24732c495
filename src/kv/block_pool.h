#pragma once
// Allocation of fixed-size KV blocks, with exact accounting for automatic prefix caching.
//
// Every block is in exactly one state:
//   used    refcount > 0: held by one or more sequences (several only when shared read-only
//           through the prefix index);
//   cached  refcount 0 but registered in the prefix index: its KV is still valid and a later
//           prompt with the same prefix can take it back (retain); evictable, in LRU order;
//   free    refcount 0 and holding nothing worth keeping.
// used + cached + free == total always holds (check_invariants()).
//
// allocate() prefers a free block and only then evicts the least recently used cached block, so
// cached prefixes survive as long as memory allows. The pool itself knows nothing of hashes: the
// owner marks a block registered and is told through the evict hook when the pool reuses one, so
// an index can never keep pointing at a block whose KV is being overwritten.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace packinfer {

class BlockPool {
 public:
  using EvictHook = std::function<void(int32_t block)>;

  explicit BlockPool(int32_t n_blocks);

  // A block with refcount 1: a free one if any, else the least recently used cached one (evicted:
  // unregistered and reported to the evict hook first). -1 when every block is used.
  int32_t allocate();
  // One more reference. A cached block becomes used again (a prefix hit); a free one throws.
  void retain(int32_t block);
  // One reference less. At zero a registered block becomes cached (most recently used end of the
  // LRU list), an unregistered one free.
  void release(int32_t block);

  // Marks a used block as holding registered (immutable, shareable) KV.
  void set_registered(int32_t block);
  bool registered(int32_t block) const { return registered_.at(static_cast<size_t>(block)) != 0; }
  // Called with a block id whenever a registered block is evicted or dropped.
  void set_evict_hook(EvictHook hook) { evict_hook_ = std::move(hook); }
  // Turns every cached block into a free one (e.g. before returning memory to the OS).
  void drop_cached();

  int32_t n_total() const { return static_cast<int32_t>(refcount_.size()); }
  int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t n_cached() const { return n_cached_; }
  int32_t n_used() const { return n_total() - n_free() - n_cached(); }
  // Distinct blocks handed out since construction or forget_touched(): the part of the KV memory
  // that has been written, hence resident (its pages are faulted in on first write).
  int32_t n_touched() const { return n_touched_; }
  void forget_touched();
  // Blocks allocate() can hand out now (free + evictable cached).
  int32_t n_available() const { return n_free() + n_cached(); }
  int32_t refcount(int32_t block) const { return refcount_.at(static_cast<size_t>(block)); }
  // Cached blocks from least to most recently used (the eviction order).
  std::vector<int32_t> cached_lru() const;

  // Throws packinfer::Error naming the first broken rule: each block in exactly one state, the
  // free list and LRU list consistent with refcounts and registration, counts adding up.
  void check_invariants() const;

 private:
  void lru_push_back(int32_t block);
  void lru_remove(int32_t block);
  void evict(int32_t block);

  std::vector<int32_t> refcount_;
  std::vector<uint8_t> registered_;
  std::vector<int32_t> free_;  // stack: most recently freed first (its pages are warm)
  // Intrusive doubly linked LRU list of cached blocks (O(1) removal on a prefix hit).
  std::vector<int32_t> lru_prev_, lru_next_;
  int32_t lru_head_ = -1;  // least recently used: evicted first
  int32_t lru_tail_ = -1;
  int32_t n_cached_ = 0;
  std::vector<uint8_t> touched_;
  int32_t n_touched_ = 0;
  EvictHook evict_hook_;
};

}  // namespace packinfer
