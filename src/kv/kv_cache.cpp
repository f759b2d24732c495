#include "kv/kv_cache.h"

#include <sys/mman.h>

#include <cstring>

#include "packinfer/error.h"

namespace packinfer {

int64_t KvCache::block_bytes(const ModelConfig& c, int32_t block_size) {
  return static_cast<int64_t>(c.n_layer) * 2 * c.kv_dim() * block_size * sizeof(float);
}

KvCache::KvCache(const ModelConfig& c, int32_t n_blocks, int32_t block_size)
    : n_layer_(c.n_layer),
      n_head_kv_(c.n_head_kv),
      head_dim_(c.head_dim),
      block_size_(block_size),
      block_stride_(static_cast<int64_t>(c.kv_dim()) * block_size),
      layer_stride_(block_stride_ * n_blocks),
      pool_(n_blocks) {
  if (block_size <= 0 || n_blocks <= 0)
    throw Error("KV cache needs a positive block size and count");
  bytes_ = block_bytes(c, block_size) * n_blocks;
  void* p = ::mmap(nullptr, static_cast<size_t>(bytes_), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    throw Error("cannot reserve " + std::to_string(bytes_ >> 20) + " MiB for the KV cache");
  }
  base_ = static_cast<float*>(p);
}

KvCache::~KvCache() {
  if (base_ != nullptr) ::munmap(base_, static_cast<size_t>(bytes_));
}

bool KvCache::reserve(SequenceKv& seq, int64_t n_tokens) {
  int64_t need = blocks_for(n_tokens, block_size_) - static_cast<int64_t>(seq.blocks.size());
  if (need <= 0) return true;
  if (need > pool_.n_free()) return false;
  for (int64_t i = 0; i < need; ++i) seq.blocks.push_back(pool_.allocate());
  return true;
}

void KvCache::release(SequenceKv& seq) {
  for (int32_t b : seq.blocks) pool_.release(b);
  seq.blocks.clear();
  seq.n_tokens = 0;
}

void KvCache::write(int32_t layer, const SequenceKv& seq, int64_t pos, const float* k,
                    const float* v) {
  const int32_t block = seq.blocks[static_cast<size_t>(pos / block_size_)];
  const int64_t slot = pos % block_size_;
  float* kb = base_ + 2 * layer * layer_stride_ + block * block_stride_;
  float* vb = kb + layer_stride_;
  for (int32_t h = 0; h < n_head_kv_; ++h) {
    const int64_t off = (static_cast<int64_t>(h) * block_size_ + slot) * head_dim_;
    std::memcpy(kb + off, k + static_cast<int64_t>(h) * head_dim_, sizeof(float) * head_dim_);
    std::memcpy(vb + off, v + static_cast<int64_t>(h) * head_dim_, sizeof(float) * head_dim_);
  }
}

bool KvCache::trim_if_idle() {
  if (pool_.n_used() != 0) return false;
  ::madvise(base_, static_cast<size_t>(bytes_), MADV_DONTNEED);
  return true;
}

KvLayerView KvCache::layer_view(int32_t layer) const {
  KvLayerView view;
  view.k = base_ + 2 * layer * layer_stride_;
  view.v = view.k + layer_stride_;
  view.block_stride = block_stride_;
  return view;
}

}  // namespace packinfer
