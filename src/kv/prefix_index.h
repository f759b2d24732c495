#pragma once
// Index of full KV blocks by token prefix (automatic prefix caching, as in vLLM).
//
// A registered block is keyed by its hash-chain value (kv/block_hash.h) and stores its own token
// ids plus a serial number, with the serial of the block before it in the chain. A lookup walks
// the chain from the first block and accepts a candidate only if its token ids equal the
// prompt's and its parent serial is the serial of the block accepted just before. Serials are
// never reused, so by induction an accepted run holds exactly the prompt's prefix: a hash
// collision can make a lookup miss, never return wrong KV.
//
// The index holds no references: the owner (KvCache) keeps BlockPool's registered flags in step
// and erases a block when the pool evicts it.
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "kv/block_hash.h"

namespace packinfer {

class PrefixIndex {
 public:
  // `root` starts every chain: the KV cache derives it from the KV format and block size, so
  // blocks stored differently never match (kRootBlockHash when nothing distinguishes them).
  PrefixIndex(int32_t n_blocks, int32_t block_size, uint64_t root = kRootBlockHash);

  // Registered blocks holding tokens[0, n * block_size) for the largest n <= max_blocks.
  std::vector<int32_t> match(std::span<const int32_t> tokens, int64_t max_blocks) const;

  // Registers the full blocks of one sequence: blocks[k] holds tokens[k*block_size, (k+1)*
  // block_size), tokens.size() == blocks.size() * block_size. Blocks already registered are
  // checked and skipped; a block whose prefix is already indexed under another block stays
  // unregistered (the other copy serves hits). Stops at a hash collision (later blocks would be
  // unreachable). Returns the blocks newly registered.
  std::vector<int32_t> insert(std::span<const int32_t> blocks, std::span<const int32_t> tokens);

  // The chain keys of the first max_blocks full blocks of `tokens`, in order (what a registered
  // block holding that prefix would be indexed under).
  std::vector<uint64_t> chain_keys(std::span<const int32_t> tokens, int64_t max_blocks) const;
  uint64_t root() const { return root_; }
  // A registered block's chain key, the key of the block before it (root() for the first) and
  // its tokens.
  uint64_t key_of(int32_t block) const { return hash_.at(static_cast<size_t>(block)); }
  uint64_t parent_key_of(int32_t block) const {
    return parent_hash_.at(static_cast<size_t>(block));
  }
  std::span<const int32_t> tokens_of(int32_t block) const { return stored_tokens(block); }

  // Forgets a block (its KV is about to be reused). No-op for an unregistered block.
  void erase(int32_t block);
  bool contains(int32_t block) const { return serial_.at(static_cast<size_t>(block)) != 0; }
  int64_t size() const { return static_cast<int64_t>(by_hash_.size()); }
  int32_t block_size() const { return block_size_; }

  // Test hook: keeps only the low `bits` bits of every hash so collisions become common and the
  // token comparison path is exercised. Only while the index is empty.
  void set_hash_bits_for_testing(int bits);

  // Throws packinfer::Error if the hash map and the per-block entries disagree.
  void check_invariants() const;

 private:
  uint64_t chain(uint64_t parent, std::span<const int32_t> tokens) const;
  std::span<const int32_t> stored_tokens(int32_t block) const;
  // The block indexed under `hash` if it holds `tokens` right after the block of serial
  // `parent_serial`, else -1.
  int32_t find(uint64_t hash, uint64_t parent_serial, std::span<const int32_t> tokens) const;

  int32_t block_size_;
  uint64_t root_;
  uint64_t hash_mask_ = ~0ull;
  uint64_t next_serial_ = 1;  // 0 marks "not registered" and the chain root
  std::unordered_map<uint64_t, int32_t> by_hash_;
  // Per block: its chain hash, its parent's, serial, parent's serial, and block_size token ids.
  std::vector<uint64_t> hash_, parent_hash_, serial_, parent_serial_;
  std::vector<int32_t> tokens_;
};

}  // namespace packinfer
