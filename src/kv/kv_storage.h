#pragma once
// The memory of the KV cache: every layer's keys and values of every block, in the cache's
// format (kv/kv_format.h). One anonymous memory map is reserved up front; pages are committed by
// the OS only when a block is first written (demand paging, as in vAttention), so a large budget
// costs nothing until used.
//
// Layout of one layer: the key pool [block][kv_head][head block] then the value pool likewise;
// a head block holds block_size positions of one KV head in the format's layout
// (kernels/kv_codecs.h). Attention reads it through layer_view(): f32 in place, any other
// format decoded a chunk at a time by the format's codec.
//
// KIVI keys are quantized per channel over a whole block, so a block's keys are final only once
// the block is full. Until then they are kept in f16 in a staging buffer (the "full-precision
// tail" of KIVI), one per layer of a block being filled, and attention reads them from there;
// writing a block's last position of a layer quantizes that layer's keys into the block and
// frees its buffer at once, so a long step holds one buffer per layer at a time, not one per
// block it fills. Blocks in the prefix cache are full, so they never have one.
// Keys quantized per channel are stored with their rotary embedding taken off (unless the format
// rotates them by a Hadamard matrix) and get it back as attention reads them (kv/key_rope.h).
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/kernel_table.h"
#include "kv/key_rope.h"
#include "kv/kv_format.h"

namespace packinfer {

// What the cache stores per position and layer: n_kv_heads heads of head_dim values, keys and
// values apart. Keys arrive with the model's rotary embedding applied; formats that quantize keys
// per channel store them with it taken off (kv/key_rope.h), which needs its parameters.
struct KvShape {
  int32_t n_layer = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  float rope_freq_base = 10000.0f;
  RopeStyle rope_style = RopeStyle::Normal;
  int64_t max_positions = 0;  // longest sequence (0: as many positions as the blocks hold)
  int64_t kv_dim() const { return static_cast<int64_t>(n_kv_heads) * head_dim; }
};

class KvStorage {
 public:
  // Throws InvalidArgument when the format cannot store this shape (check_kv_format) and Error
  // when the memory cannot be reserved.
  KvStorage(const KvShape& shape, int32_t n_blocks, int32_t block_size, const KvFormat& format,
            const KernelTable& kernels);
  ~KvStorage();
  KvStorage(const KvStorage&) = delete;
  KvStorage& operator=(const KvStorage&) = delete;

  // Bytes of one block over all layers (keys and values), staging excluded.
  static int64_t block_bytes(const KvShape& shape, int32_t block_size, const KvFormat& format);

  // Stores position `pos` of a sequence, which lies in `block`, for one layer: kv_dim floats of
  // keys and of values (Hadamard-rotated first when the format asks for it).
  void write(int32_t layer, int32_t block, int64_t pos, const float* k, const float* v);
  // The block went back to the free pool: forget its staging, if any.
  void release_block(int32_t block);

  KvLayerView layer_view(int32_t layer) const;

  // A block's keys and values of every layer as one contiguous payload (disk tier). Only for full
  // blocks (no staging).
  int64_t payload_bytes() const { return static_cast<int64_t>(n_layer_) * (k_block_ + v_block_); }
  void gather(int32_t block, std::span<uint8_t> out) const;
  void scatter(int32_t block, std::span<const uint8_t> in);

  // Returns every page to the OS (all blocks must be free).
  void trim();

  const KvFormat& format() const { return format_; }
  int64_t bytes_reserved() const { return bytes_; }
  // f16 staging buffers of blocks whose keys are not final yet (the most ever held at once).
  int64_t staging_bytes() const;

 private:
  uint8_t* key_block(int32_t layer, int32_t block) const {
    return base_ + layer * layer_bytes_ + block * k_block_;
  }
  uint8_t* value_block(int32_t layer, int32_t block) const {
    return base_ + layer * layer_bytes_ + n_blocks_ * k_block_ + block * v_block_;
  }
  // Staging of keys quantized per block: a buffer holds one layer of one block as f16 rows
  // [kv_head][slot][head_dim]. staged() is null when that layer's keys are final (or unwritten).
  const uint16_t* staged(int32_t block, int32_t layer) const {
    const int32_t set = stage_[static_cast<size_t>(block)];
    return set < 0 ? nullptr : staged_layers_[static_cast<size_t>(set) * n_layer_ + layer];
  }
  uint16_t* stage_of(int32_t block, int32_t layer, int32_t slot, int64_t block_pos);
  void finish_layer(int32_t block, int32_t layer, int64_t block_pos);
  void release_layer(int32_t block, int32_t layer);
  // The keys of `block` (first position block_pos) quantized per channel, as rows [slot0, slot0+n).
  void decode_quantized_keys(int32_t layer, int32_t block, int32_t kv_head, int32_t slot0,
                             int32_t n, int64_t block_pos, float* dst) const;
  static void decode_keys(const void* ctx, int32_t block, int32_t kv_head, int32_t slot0, int32_t n,
                          int64_t pos0, float* dst);
  static void prefetch_keys(const void* ctx, int32_t block, int32_t kv_head);
  static void prefetch_values(const void* ctx, int32_t block, int32_t kv_head);
  static void decode_values(const void* ctx, int32_t block, int32_t kv_head, int32_t slot0,
                            int32_t n, int64_t pos0, float* dst);

  KvShape shape_;
  int32_t n_layer_, n_blocks_, block_size_, head_dim_;
  KvFormat format_;
  KvCodec key_codec_, value_codec_;
  int64_t k_head_, v_head_;    // bytes of one head block
  int64_t k_block_, v_block_;  // bytes of one block of one layer (all heads)
  int64_t layer_bytes_;
  uint8_t* base_ = nullptr;
  int64_t bytes_ = 0;

  struct ReadContext {
    const KvStorage* storage;
    int32_t layer;
  };
  std::vector<ReadContext> read_context_;  // one per layer: stable addresses for the kernels

  bool keys_staged_;                   // the key format quantizes per block (KIVI)
  std::unique_ptr<KeyRope> key_rope_;  // keys stored without their rotary embedding, else null
  // Per block, -1 or the index of its set of per-layer buffers in staged_layers_ ([set][layer],
  // null where a layer has none); staged_count_ counts a set's buffers.
  std::vector<int32_t> stage_;
  std::vector<uint16_t*> staged_layers_;
  std::vector<int32_t> staged_count_;
  std::vector<int32_t> free_sets_;
  std::vector<std::unique_ptr<uint16_t[]>> buffers_;  // every buffer allocated (high-water mark)
  std::vector<uint16_t*> free_buffers_;
  int64_t stage_elems_;                      // f16 values of one buffer: one layer of one block
  std::vector<float> rotated_, block_rows_;  // scratch of write()
};

}  // namespace packinfer
