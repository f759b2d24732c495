#include "kv/key_rope.h"

#include <cmath>

namespace packinfer {

namespace {
void angles(int64_t pos, int32_t head_dim, double freq_base, float* cos_out, float* sin_out) {
  for (int32_t i = 0; i < head_dim / 2; ++i) {
    const double theta = static_cast<double>(pos) * std::pow(freq_base, -2.0 * i / head_dim);
    cos_out[i] = static_cast<float>(std::cos(theta));
    sin_out[i] = static_cast<float>(std::sin(theta));
  }
}
}  // namespace

KeyRope::KeyRope(int32_t head_dim, int32_t block_size, int64_t max_positions, float freq_base,
                 RopeStyle style, KvRotateRowsFn rotate)
    : head_dim_(head_dim),
      half_(head_dim / 2),
      block_size_(block_size),
      freq_base_(freq_base),
      style_(style),
      rotate_(rotate),
      n_blocks_((max_positions + block_size - 1) / block_size),
      n_chunks_((n_blocks_ + kBlocksPerChunk - 1) / kBlocksPerChunk),
      // Value-initialized: every chunk starts null (C++20 atomics).
      chunks_(std::make_unique<std::atomic<float*>[]>(static_cast<size_t>(n_chunks_))) {
  slot_cos_.resize(static_cast<size_t>(block_size) * half_);
  slot_sin_.resize(slot_cos_.size());
  for (int32_t s = 0; s < block_size; ++s) {
    angles(s, head_dim, freq_base, &slot_cos_[s * half_], &slot_sin_[s * half_]);
  }
}

KeyRope::~KeyRope() {
  for (int64_t c = 0; c < n_chunks_; ++c) delete[] chunks_[c].load(std::memory_order_relaxed);
}

int64_t KeyRope::chunks_filled() const {
  int64_t filled = 0;
  for (int64_t c = 0; c < n_chunks_; ++c) filled += chunks_[c].load() != nullptr ? 1 : 0;
  return filled;
}

void KeyRope::angles_of_block(int64_t block, float* cos_out, float* sin_out) const {
  angles(block * block_size_, head_dim_, freq_base_, cos_out, sin_out);
}

const float* KeyRope::chunk(int64_t c) const {
  float* table = chunks_[c].load(std::memory_order_acquire);
  if (table != nullptr) return table;
  auto fresh = std::make_unique<float[]>(static_cast<size_t>(kBlocksPerChunk * 2 * half_));
  for (int64_t b = 0; b < kBlocksPerChunk; ++b) {
    float* cs = &fresh[static_cast<size_t>(b * 2 * half_)];
    angles_of_block(c * kBlocksPerChunk + b, cs, cs + half_);
  }
  if (chunks_[c].compare_exchange_strong(table, fresh.get(), std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
    return fresh.release();
  }
  return table;  // another thread published the same angles first
}

void KeyRope::rotate(float* rows, int32_t n, int64_t pos0, float sign) const {
  const int64_t block = pos0 / block_size_;
  const int32_t slot0 = static_cast<int32_t>(pos0 % block_size_);
  // Angles of the block's first position: tabulated, or computed for a position past the table.
  thread_local std::vector<float> beyond;
  const float* bc = nullptr;
  const float* bs = nullptr;
  if (block < n_blocks_) {
    bc = chunk(block / kBlocksPerChunk) + (block % kBlocksPerChunk) * 2 * half_;
    bs = bc + half_;
  } else {
    beyond.resize(static_cast<size_t>(2 * half_));
    angles_of_block(block, beyond.data(), beyond.data() + half_);
    bc = beyond.data();
    bs = beyond.data() + half_;
  }
  rotate_(rows, n, head_dim_, bc, bs, &slot_cos_[slot0 * half_], &slot_sin_[slot0 * half_],
          style_ == RopeStyle::NeoX, sign);
}

}  // namespace packinfer
