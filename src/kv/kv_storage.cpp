#include "kv/kv_storage.h"

#include <sys/mman.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/fp16.h"
#include "kernels/hadamard.h"
#include "packinfer/error.h"

namespace packinfer {

int64_t KvStorage::block_bytes(const KvShape& s, int32_t block_size, const KvFormat& f) {
  return static_cast<int64_t>(s.n_layer) * s.n_kv_heads *
         (kv_head_block_bytes(f.k, true, s.head_dim, block_size) +
          kv_head_block_bytes(f.v, false, s.head_dim, block_size));
}

KvStorage::KvStorage(const KvShape& shape, int32_t n_blocks, int32_t block_size,
                     const KvFormat& format, const KernelTable& kernels)
    : shape_(shape),
      n_layer_(shape.n_layer),
      n_blocks_(n_blocks),
      block_size_(block_size),
      head_dim_(shape.head_dim),
      format_(format),
      key_codec_(kernels.kv_key[static_cast<int>(format.k)]),
      value_codec_(kernels.kv_value[static_cast<int>(format.v)]),
      k_head_(kv_head_block_bytes(format.k, true, shape.head_dim, block_size)),
      v_head_(kv_head_block_bytes(format.v, false, shape.head_dim, block_size)),
      k_block_(k_head_ * shape.n_kv_heads),
      v_block_(v_head_ * shape.n_kv_heads),
      layer_bytes_((k_block_ + v_block_) * n_blocks),
      keys_staged_(kv_type_quantizes_keys_per_channel(format.k)),
      stage_(static_cast<size_t>(std::max(n_blocks, 0)), -1),
      stage_elems_(shape.kv_dim() * block_size) {
  if (block_size <= 0 || n_blocks <= 0) {
    throw Error("KV cache needs a positive block size and count");
  }
  check_kv_format(format, shape.head_dim, block_size);
  bytes_ = layer_bytes_ * n_layer_;
  void* p = ::mmap(nullptr, static_cast<size_t>(bytes_), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    throw Error("cannot reserve " + std::to_string(bytes_ >> 20) + " MiB for the KV cache");
  }
  base_ = static_cast<uint8_t*>(p);
  for (int32_t l = 0; l < n_layer_; ++l) read_context_.push_back({this, l});
  if (kv_keys_before_rope(format)) {
    const int64_t max_positions =
        shape.max_positions > 0 ? shape.max_positions : static_cast<int64_t>(n_blocks) * block_size;
    key_rope_ =
        std::make_unique<KeyRope>(head_dim_, block_size, max_positions, shape.rope_freq_base,
                                  shape.rope_style, kernels.kv_rotate_rows);
  }
  rotated_.resize(static_cast<size_t>(2 * shape.kv_dim()));
  block_rows_.resize(static_cast<size_t>(block_size) * head_dim_);
}

KvStorage::~KvStorage() {
  if (base_ != nullptr) ::munmap(base_, static_cast<size_t>(bytes_));
}

int64_t KvStorage::staging_bytes() const {
  return static_cast<int64_t>(buffers_.size()) * stage_elems_ * 2;
}

uint16_t* KvStorage::stage_of(int32_t block, int32_t layer, int32_t slot, int64_t block_pos) {
  int32_t& set = stage_[static_cast<size_t>(block)];
  if (set < 0) {
    if (free_sets_.empty()) {
      set = static_cast<int32_t>(staged_count_.size());
      staged_count_.push_back(0);
      staged_layers_.resize(staged_layers_.size() + static_cast<size_t>(n_layer_), nullptr);
    } else {
      set = free_sets_.back();
      free_sets_.pop_back();
    }
  }
  uint16_t*& buffer = staged_layers_[static_cast<size_t>(set) * n_layer_ + layer];
  if (buffer != nullptr) return buffer;
  if (free_buffers_.empty()) {
    buffers_.push_back(std::make_unique<uint16_t[]>(static_cast<size_t>(stage_elems_)));
    free_buffers_.push_back(buffers_.back().get());
  }
  buffer = free_buffers_.back();
  free_buffers_.pop_back();
  ++staged_count_[static_cast<size_t>(set)];
  // A layer whose keys were already quantized is written again only below the block's end (the
  // pads of the padded baseline are overwritten by real tokens): its earlier positions come back
  // from the quantized keys.
  for (int32_t h = 0; slot > 0 && h < shape_.n_kv_heads; ++h) {
    decode_quantized_keys(layer, block, h, 0, slot, block_pos, block_rows_.data());
    uint16_t* dst = buffer + static_cast<int64_t>(h) * block_size_ * head_dim_;
    for (int64_t i = 0; i < static_cast<int64_t>(slot) * head_dim_; ++i) {
      dst[i] = fp32_to_fp16(block_rows_[static_cast<size_t>(i)]);
    }
  }
  return buffer;
}

void KvStorage::finish_layer(int32_t block, int32_t layer, int64_t block_pos) {
  const uint16_t* buffer = staged(block, layer);
  for (int32_t h = 0; h < shape_.n_kv_heads; ++h) {
    const uint16_t* src = buffer + static_cast<int64_t>(h) * block_size_ * head_dim_;
    for (size_t i = 0; i < block_rows_.size(); ++i) block_rows_[i] = fp16_to_fp32(src[i]);
    if (key_rope_) key_rope_->remove(block_rows_.data(), block_size_, block_pos);
    key_codec_.encode_block(block_rows_.data(), key_block(layer, block) + h * k_head_, head_dim_,
                            block_size_);
  }
  release_layer(block, layer);
}

void KvStorage::release_layer(int32_t block, int32_t layer) {
  int32_t& set = stage_[static_cast<size_t>(block)];
  uint16_t*& buffer = staged_layers_[static_cast<size_t>(set) * n_layer_ + layer];
  free_buffers_.push_back(buffer);
  buffer = nullptr;
  if (--staged_count_[static_cast<size_t>(set)] == 0) {
    free_sets_.push_back(set);
    set = -1;
  }
}

void KvStorage::release_block(int32_t block) {
  for (int32_t l = 0; l < n_layer_ && stage_[static_cast<size_t>(block)] >= 0; ++l) {
    if (staged(block, l) != nullptr) release_layer(block, l);
  }
}

void KvStorage::write(int32_t layer, int32_t block, int64_t pos, const float* k, const float* v) {
  const int32_t hd = head_dim_;
  const int32_t slot = static_cast<int32_t>(pos % block_size_);
  const int64_t block_pos = pos - slot;
  if (format_.rotate) {
    std::copy(k, k + shape_.kv_dim(), rotated_.begin());
    std::copy(v, v + shape_.kv_dim(), rotated_.begin() + shape_.kv_dim());
    hadamard_rows(rotated_.data(), 2 * shape_.n_kv_heads, hd, hd);
    k = rotated_.data();
    v = rotated_.data() + shape_.kv_dim();
  }
  for (int32_t h = 0; h < shape_.n_kv_heads; ++h) {
    value_codec_.encode_row(v + h * hd, value_block(layer, block) + h * v_head_, slot, hd,
                            block_size_);
  }
  if (!keys_staged_) {
    for (int32_t h = 0; h < shape_.n_kv_heads; ++h) {
      key_codec_.encode_row(k + h * hd, key_block(layer, block) + h * k_head_, slot, hd,
                            block_size_);
    }
    return;
  }
  uint16_t* buffer = stage_of(block, layer, slot, block_pos);
  for (int32_t h = 0; h < shape_.n_kv_heads; ++h) {
    uint16_t* dst = buffer + (static_cast<int64_t>(h) * block_size_ + slot) * hd;
    for (int32_t i = 0; i < hd; ++i) dst[i] = fp32_to_fp16(k[h * hd + i]);
  }
  if (slot == block_size_ - 1) finish_layer(block, layer, block_pos);
}

void KvStorage::decode_quantized_keys(int32_t layer, int32_t block, int32_t kv_head, int32_t slot0,
                                      int32_t n, int64_t block_pos, float* dst) const {
  key_codec_.decode(key_block(layer, block) + kv_head * k_head_, slot0, n, dst, head_dim_,
                    block_size_);
  if (key_rope_) key_rope_->apply(dst, n, block_pos + slot0);
}

void KvStorage::decode_keys(const void* ctx, int32_t block, int32_t kv_head, int32_t slot0,
                            int32_t n, int64_t pos0, float* dst) {
  const auto& c = *static_cast<const ReadContext*>(ctx);
  const KvStorage& s = *c.storage;
  const uint16_t* buffer = s.keys_staged_ ? s.staged(block, c.layer) : nullptr;
  if (buffer != nullptr) {
    const uint16_t* src =
        buffer + (static_cast<int64_t>(kv_head) * s.block_size_ + slot0) * s.head_dim_;
    for (int64_t i = 0; i < static_cast<int64_t>(n) * s.head_dim_; ++i) {
      dst[i] = fp16_to_fp32(src[i]);
    }
    return;
  }
  s.decode_quantized_keys(c.layer, block, kv_head, slot0, n, pos0 - slot0, dst);
}

void KvStorage::decode_values(const void* ctx, int32_t block, int32_t kv_head, int32_t slot0,
                              int32_t n, int64_t /*pos0*/, float* dst) {
  const auto& c = *static_cast<const ReadContext*>(ctx);
  const KvStorage& s = *c.storage;
  s.value_codec_.decode(s.value_block(c.layer, block) + kv_head * s.v_head_, slot0, n, dst,
                        s.head_dim_, s.block_size_);
}

namespace {
void prefetch_bytes(const uint8_t* p, int64_t n) {
  for (int64_t off = 0; off < n; off += 64)
    _mm_prefetch(reinterpret_cast<const char*>(p + off), _MM_HINT_T0);
}
}  // namespace

void KvStorage::prefetch_keys(const void* ctx, int32_t block, int32_t kv_head) {
  const auto& c = *static_cast<const ReadContext*>(ctx);
  const KvStorage& s = *c.storage;
  prefetch_bytes(s.key_block(c.layer, block) + kv_head * s.k_head_, s.k_head_);
}

void KvStorage::prefetch_values(const void* ctx, int32_t block, int32_t kv_head) {
  const auto& c = *static_cast<const ReadContext*>(ctx);
  const KvStorage& s = *c.storage;
  prefetch_bytes(s.value_block(c.layer, block) + kv_head * s.v_head_, s.v_head_);
}

KvLayerView KvStorage::layer_view(int32_t layer) const {
  KvLayerView view;
  const void* ctx = &read_context_[static_cast<size_t>(layer)];
  if (format_.k == KvType::F32) {
    view.k.f32 = reinterpret_cast<const float*>(key_block(layer, 0));
    view.k.block_stride = shape_.kv_dim() * block_size_;
  } else {
    view.k.decode = decode_keys;
    view.k.prefetch = prefetch_keys;
    view.k.ctx = ctx;
  }
  if (format_.v == KvType::F32) {
    view.v.f32 = reinterpret_cast<const float*>(value_block(layer, 0));
    view.v.block_stride = shape_.kv_dim() * block_size_;
  } else {
    view.v.decode = decode_values;
    view.v.prefetch = prefetch_values;
    view.v.ctx = ctx;
  }
  return view;
}

void KvStorage::gather(int32_t block, std::span<uint8_t> out) const {
  uint8_t* dst = out.data();
  for (int32_t l = 0; l < n_layer_; ++l) {
    std::memcpy(dst, key_block(l, block), static_cast<size_t>(k_block_));
    std::memcpy(dst + k_block_, value_block(l, block), static_cast<size_t>(v_block_));
    dst += k_block_ + v_block_;
  }
}

void KvStorage::scatter(int32_t block, std::span<const uint8_t> in) {
  const uint8_t* src = in.data();
  for (int32_t l = 0; l < n_layer_; ++l) {
    std::memcpy(key_block(l, block), src, static_cast<size_t>(k_block_));
    std::memcpy(value_block(l, block), src + k_block_, static_cast<size_t>(v_block_));
    src += k_block_ + v_block_;
  }
}

void KvStorage::trim() {
  ::madvise(base_, static_cast<size_t>(bytes_), MADV_DONTNEED);
  std::fill(stage_.begin(), stage_.end(), -1);
  staged_layers_.clear();
  staged_count_.clear();
  free_sets_.clear();
  buffers_.clear();
  free_buffers_.clear();
}

}  // namespace packinfer
