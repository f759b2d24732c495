#pragma once
// The KV cache: one budget of fixed-size blocks shared by all sequences, their memory in the
// cache's format (kv/kv_storage.h), their accounting (kv/block_pool.h) and the prefix index.
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
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernels/attention.h"
#include "kv/block_pool.h"
#include "kv/disk_tier.h"
#include "kv/kv_format.h"
#include "kv/kv_storage.h"
#include "kv/prefix_index.h"
#include "kv/redis_store.h"

namespace packinfer {

// The KV state of one sequence: its blocks in position order and how many positions they hold.
struct SequenceKv {
  std::vector<int32_t> blocks;
  int64_t n_tokens = 0;
  // Markers it holds in the shared store for blocks it computes (KvCache::claim_missing), kept
  // until its first claim_blocks blocks are full, refreshed meanwhile.
  std::vector<uint64_t> claimed;
  int64_t claim_blocks = 0;
  std::chrono::steady_clock::time_point claim_refreshed{};
};

// What claim_missing() found for the blocks a sequence is about to compute.
enum class PrefixClaim {
  Compute,  // compute them (claimed here, or no store to share them through)
  Wait,     // another server is computing the first of them: look again later
};

class KvCache {
 public:
  // The format defaults to exact f32 (tests); engines pass theirs. `kernels` chooses the codecs'
  // instruction-set level (nullptr: the active one).
  KvCache(const KvShape& shape, int32_t n_blocks, int32_t block_size,
          const KvFormat& format = {KvType::F32, KvType::F32},
          const KernelTable* kernels = nullptr);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  // Blocks of n_tokens positions need, for a given block size.
  static int64_t blocks_for(int64_t n_tokens, int32_t block_size) {
    return (n_tokens + block_size - 1) / block_size;
  }
  // Bytes of one block over all layers (keys and values).
  static int64_t block_bytes(const KvShape& shape, int32_t block_size,
                             const KvFormat& format = {KvType::F32, KvType::F32}) {
    return KvStorage::block_bytes(shape, block_size, format);
  }

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
  // After match_prefix, when a shared store is on and blocks of `tokens` are still missing: marks
  // them as being computed here, so other servers wait for them instead of computing them too
  // (kv/redis_store.h), and looks in the store once more (a server that finished them just
  // before has published them). Wait when another server is computing the first missing block.
  PrefixClaim claim_missing(SequenceKv& seq, std::span<const int32_t> tokens);
  // Indexes every full block of seq not yet indexed, so later prompts can reuse it. `tokens` are
  // the sequence's tokens so far (at least its first n_tokens). Call after a forward.
  // Also refreshes the store markers seq holds, and gives them back once its claimed blocks are
  // full (they are published: queued ahead of the release).
  void register_blocks(SequenceKv& seq, std::span<const int32_t> tokens);

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
  // Publishes every published block to a shared store too (kv/redis_store.h) and lets
  // match_prefix continue a local hit with blocks fetched from there. Throws for a bad URL; an
  // unreachable store only warns.
  void enable_store(KvStoreOptions options);
  RedisKvStore* store() { return store_.get(); }
  const RedisKvStore* store() const { return store_.get(); }
  // Bytes of one block over all layers, keys and values: what the disk tier stores per block.
  int64_t payload_bytes() const { return storage_.payload_bytes(); }

  // Returns the physical memory of the whole cache to the OS when no block is in use (a big
  // job's pages would otherwise stay resident after it ends); this forgets the prefix cache.
  // Returns false if blocks are in use.
  bool trim_if_idle();

  // Throws packinfer::Error if block accounting or the prefix index is inconsistent.
  void check_invariants() const;
  PrefixIndex& prefix_index() { return index_; }
  const PrefixIndex& prefix_index() const { return index_; }

  KvLayerView layer_view(int32_t layer) const { return storage_.layer_view(layer); }
  const KvFormat& format() const { return storage_.format(); }
  int32_t block_size() const { return block_size_; }
  BlockPool& pool() { return pool_; }
  const BlockPool& pool() const { return pool_; }
  int64_t capacity_tokens() const { return static_cast<int64_t>(pool_.n_total()) * block_size_; }
  int64_t bytes_total() const { return storage_.bytes_reserved(); }
  int64_t staging_bytes() const { return storage_.staging_bytes(); }
  // KV memory written so far (resident), of bytes_total() reserved.
  int64_t bytes_touched() const {
    return pool_.n_touched() * (pool_.n_total() > 0 ? bytes_total() / pool_.n_total() : 0);
  }

 private:
  // Continues seq's prefix from disk: appends blocks read back for tokens after seq's blocks.
  void match_from_disk(SequenceKv& seq, std::span<const int32_t> tokens, int64_t max_blocks);
  // The same from the shared store.
  void match_from_store(SequenceKv& seq, std::span<const int32_t> tokens, int64_t max_blocks);
  // The fingerprint a tier stores blocks under: the model's, the format and the block size.
  uint64_t tier_fingerprint(uint64_t model_fingerprint) const;

  int32_t block_size_;
  KvStorage storage_;
  BlockPool pool_;
  PrefixIndex index_;
  bool check_writes_ = false;  // the constructor turns it on in debug builds
  std::unique_ptr<DiskTier> disk_;
  std::unique_ptr<RedisKvStore> store_;
  // Per block: the store epoch in which it was queued for the store (0: not published). A hit
  // on a block not published in the current epoch publishes it (again): blocks dropped while
  // the store was down or behind, or lost in a Redis restart, reach it once they are used.
  std::vector<uint32_t> published_;
  void publish(int32_t block);
  // Gives seq's store markers back (its blocks are published, or it stopped computing them).
  void release_claims(SequenceKv& seq);
  std::vector<uint8_t> payload_;  // one block's bytes, reused
};

}  // namespace packinfer
