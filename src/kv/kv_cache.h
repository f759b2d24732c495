#pragma once
// The KV cache: one budget of fixed-size blocks shared by all sequences. Storage for every layer
// is one anonymous memory map reserved up front; pages are committed by the OS only when a block
// is first written (demand paging, as in vAttention), so a large budget costs nothing until used.
//
// Layout of one layer's keys (values alike): [block][kv_head][slot][head_dim] f32, which is what
// the attention kernel reads (kernels/attention.h).
//
// Automatic prefix caching (vLLM's APC): after a forward, register_blocks() indexes the
// sequence's full blocks by token prefix; when the sequence is released they stay cached (still
// valid, evictable in LRU order) instead of free. A new sequence calls match_prefix() first and
// starts with the longest run of cached full blocks matching its prompt, shared read-only.
// Copy-on-write never happens because it is never needed: a shared block is always full, and a
// sequence only writes positions >= its n_tokens, which lie in its own later blocks (write()
// checks this in debug builds, or when set_check_writes(true)).
// Granularity is the KV block size: only whole blocks are shared, so a prompt shorter than one
// block (plus one token) cannot hit. A smaller block size (EngineOptions::kv_block_size, the
// `block_size` argument here) lets shorter shared prefixes hit, at some attention-kernel cost.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernels/attention.h"
#include "kv/block_pool.h"
#include "kv/disk_tier.h"
#include "kv/prefix_index.h"

namespace packinfer {

// What the cache stores per position and layer: n_kv_heads heads of head_dim values, keys and
// values apart.
struct KvShape {
  int32_t n_layer = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  int64_t kv_dim() const { return static_cast<int64_t>(n_kv_heads) * head_dim; }
};

// The KV state of one sequence: its blocks in position order and how many positions they hold.
struct SequenceKv {
  std::vector<int32_t> blocks;
  int64_t n_tokens = 0;
};

class KvCache {
 public:
  KvCache(const KvShape& shape, int32_t n_blocks, int32_t block_size);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  // Blocks of n_tokens positions need, for a given block size.
  static int64_t blocks_for(int64_t n_tokens, int32_t block_size) {
    return (n_tokens + block_size - 1) / block_size;
  }
  // Bytes of one block over all layers (keys and values).
  static int64_t block_bytes(const KvShape& shape, int32_t block_size);

  // Makes seq able to hold `n_tokens` positions. All-or-nothing: returns false (and allocates
  // nothing) when the pool has too few free or evictable cached blocks.
  bool reserve(SequenceKv& seq, int64_t n_tokens);
  // Returns every block of seq to the pool and empties it. Registered blocks become cached.
  void release(SequenceKv& seq);

  // For a fresh sequence (no blocks): appends the longest run of cached full blocks holding the
  // start of `tokens` (retained, shared read-only), sets seq.n_tokens to its length and returns
  // it. At least one token is always left to compute (the logits of the last prompt token are
  // needed), so at most (tokens.size() - 1) rounded down to a block boundary is matched.
  int64_t match_prefix(SequenceKv& seq, std::span<const int32_t> tokens);
  // Indexes every full block of seq not yet indexed, so later prompts can reuse it. `tokens` are
  // the sequence's tokens so far (at least its first n_tokens). Call after a forward.
  void register_blocks(const SequenceKv& seq, std::span<const int32_t> tokens);

  // Stores the keys and values (kv_dim floats each) of position `pos` for one layer, in the
  // sequence whose block table is `blocks`. Positions a sequence already holds are never
  // rewritten, so registered (shareable) blocks stay immutable.
  void write(int32_t layer, std::span<const int32_t> blocks, int64_t pos, const float* k,
             const float* v);
  // Checks in write() that no shared or registered block is written (on in debug builds).
  void set_check_writes(bool on) { check_writes_ = on; }

  // Keeps every published block on disk too (kv/disk_tier.h) and lets match_prefix continue a
  // RAM hit with blocks read back from there. Throws if the directory is not writable.
  void enable_disk_tier(DiskTierOptions options);
  DiskTier* disk_tier() { return disk_.get(); }
  const DiskTier* disk_tier() const { return disk_.get(); }
  // Bytes of one block over all layers, keys and values: what the disk tier stores per block.
  int64_t payload_bytes() const;

  // Returns the physical memory of the whole cache to the OS when no block is in use (a big
  // job's pages would otherwise stay resident after it ends); this forgets the prefix cache.
  // Returns false if blocks are in use.
  bool trim_if_idle();

  // Throws packinfer::Error if block accounting or the prefix index is inconsistent.
  void check_invariants() const;
  PrefixIndex& prefix_index() { return index_; }
  const PrefixIndex& prefix_index() const { return index_; }

  KvLayerView layer_view(int32_t layer) const;
  int32_t block_size() const { return block_size_; }
  BlockPool& pool() { return pool_; }
  const BlockPool& pool() const { return pool_; }
  int64_t capacity_tokens() const { return static_cast<int64_t>(pool_.n_total()) * block_size_; }
  int64_t bytes_total() const { return bytes_; }

 private:
  // Copies a block's keys and values of every layer to / from one contiguous payload.
  void gather(int32_t block, std::span<uint8_t> out) const;
  void scatter(int32_t block, std::span<const uint8_t> in);
  // Continues seq's prefix from disk: appends blocks read back for tokens after seq's blocks.
  void match_from_disk(SequenceKv& seq, std::span<const int32_t> tokens, int64_t max_blocks);

  int32_t n_layer_;
  int32_t n_head_kv_;
  int32_t head_dim_;
  int32_t block_size_;
  int64_t block_stride_;  // floats per block per layer per K or V
  int64_t layer_stride_;  // floats per layer per K or V
  float* base_ = nullptr;
  int64_t bytes_ = 0;
  BlockPool pool_;
  PrefixIndex index_;
  bool check_writes_ = false;  // the constructor turns it on in debug builds
  std::unique_ptr<DiskTier> disk_;
  std::vector<uint8_t> payload_;  // one block's bytes, reused
};

}  // namespace packinfer
