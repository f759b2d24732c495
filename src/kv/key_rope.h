#pragma once
// The rotary embedding of keys stored before it (KVQuant's pre-RoPE key quantization). RoPE
// turns each pair of a key's channels by an angle that grows with the position; the fastest
// pairs make a full turn every few positions, so over the positions of a block each of their
// channels sweeps the pair's whole radius. Keys quantized per channel over a block (q8_0, KIVI)
// therefore lose far less when the rotation is taken off before quantizing and put back as they
// are read: on stories260K the KL divergence of q8_0 keys falls 3x and that of kivi4 keys 4x
// (bench/RESULTS.md).
//
// Both directions use the same angles, built here in double precision as the angle of the
// block's first position plus the angle of the slot, so taking the rotation off and putting it
// back returns the model's rotated key up to float rounding, whatever angles the model itself
// used.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/kv_codecs.h"

namespace packinfer {

class KeyRope {
 public:
  // Angles theta_i(p) = p * freq_base^(-2i/head_dim), tabulated for the blocks of positions
  // [0, max_positions) in chunks filled when a position of theirs is first met, so that a large
  // context costs nothing until prompts reach it (positions beyond are computed when met).
  // `rotate` is a level's kernel (KernelTable::kv_rotate_rows); all give the same floats.
  KeyRope(int32_t head_dim, int32_t block_size, int64_t max_positions, float freq_base,
          RopeStyle style, KvRotateRowsFn rotate = kv_rotate_rows_scalar);
  ~KeyRope();
  KeyRope(const KeyRope&) = delete;
  KeyRope& operator=(const KeyRope&) = delete;

  // n rows [n][head_dim] of one head at positions pos0 .. pos0 + n - 1, all in one block.
  void apply(float* rows, int32_t n, int64_t pos0) const { rotate(rows, n, pos0, 1.0f); }
  void remove(float* rows, int32_t n, int64_t pos0) const { rotate(rows, n, pos0, -1.0f); }

  // Chunks of block angles computed so far (each covers kBlocksPerChunk blocks).
  int64_t chunks_filled() const;

 private:
  void rotate(float* rows, int32_t n, int64_t pos0, float sign) const;
  void angles_of_block(int64_t block, float* cos_out, float* sin_out) const;
  // The chunk's [block][2][half] cos and sin, filled on first use. Readers decode in parallel,
  // so a chunk is published with a compare-exchange; a thread that loses the race drops its copy.
  const float* chunk(int64_t c) const;

  static constexpr int64_t kBlocksPerChunk = 64;

  int32_t head_dim_, half_, block_size_;
  float freq_base_;
  RopeStyle style_;
  KvRotateRowsFn rotate_;
  int64_t n_blocks_, n_chunks_;
  // Per chunk of kBlocksPerChunk blocks: the angles of each block's first position, or null.
  std::unique_ptr<std::atomic<float*>[]> chunks_;
  std::vector<float> slot_cos_, slot_sin_;  // [slot][half]: angle of the offset in the block
};

}  // namespace packinfer
