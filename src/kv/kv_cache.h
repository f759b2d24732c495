#pragma once
// The KV cache: one budget of fixed-size blocks shared by all sequences. Storage for every layer
// is one anonymous memory map reserved up front; pages are committed by the OS only when a block
// is first written (demand paging, as in vAttention), so a large budget costs nothing until used.
//
// Layout of one layer's keys (values alike): [block][kv_head][slot][head_dim] f32, which is what
// the attention kernel reads (kernels/attention.h).
#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "kv/block_pool.h"
#include "model/model_config.h"

namespace packinfer {

// The KV state of one sequence: its blocks in position order and how many positions they hold.
struct SequenceKv {
  std::vector<int32_t> blocks;
  int64_t n_tokens = 0;
};

class KvCache {
 public:
  KvCache(const ModelConfig& config, int32_t n_blocks, int32_t block_size);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  // Blocks of n_tokens positions need, for a given block size.
  static int64_t blocks_for(int64_t n_tokens, int32_t block_size) {
    return (n_tokens + block_size - 1) / block_size;
  }
  // Bytes of one block over all layers (keys and values).
  static int64_t block_bytes(const ModelConfig& config, int32_t block_size);

  // Makes seq able to hold `n_tokens` positions. All-or-nothing: returns false (and allocates
  // nothing) when the pool has too few free blocks.
  bool reserve(SequenceKv& seq, int64_t n_tokens);
  // Returns every block of seq to the pool and empties it.
  void release(SequenceKv& seq);

  // Stores the keys and values (kv_dim floats each) of position `pos` of seq for one layer.
  void write(int32_t layer, const SequenceKv& seq, int64_t pos, const float* k, const float* v);

  // Returns the physical memory of the whole cache to the OS when no block is in use (a big
  // job's pages would otherwise stay resident after it ends). Returns false if blocks are in use.
  bool trim_if_idle();

  KvLayerView layer_view(int32_t layer) const;
  int32_t block_size() const { return block_size_; }
  BlockPool& pool() { return pool_; }
  const BlockPool& pool() const { return pool_; }
  int64_t capacity_tokens() const { return static_cast<int64_t>(pool_.n_total()) * block_size_; }
  int64_t bytes_total() const { return bytes_; }

 private:
  int32_t n_layer_;
  int32_t n_head_kv_;
  int32_t head_dim_;
  int32_t block_size_;
  int64_t block_stride_;  // floats per block per layer per K or V
  int64_t layer_stride_;  // floats per layer per K or V
  float* base_ = nullptr;
  int64_t bytes_ = 0;
  BlockPool pool_;
};

}  // namespace packinfer
