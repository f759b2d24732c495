#pragma once
// Causal attention of new query tokens over a paged KV cache, tiled with an online softmax: no
// [T, T] score matrix is ever materialised, memory is O(tile) whatever the context length.
//
// KV layout (one layer): a pool of blocks; block b holds `block_size` consecutive positions of
// one sequence for every KV head, keys and values in separate pools, in the cache's format
// (kv/kv_format.h). A sequence's block table lists its blocks in position order: position p is
// in block table[p / block_size], slot p % block_size. Kernels read keys and values as f32 rows
// through a KvRowSource: in place when the cache stores f32, else decoded a chunk of positions
// at a time into the tile's scratch (never the whole cache).
#include <cstdint>

namespace packinfer {

struct KernelTable;

struct AttentionShape {
  int32_t n_heads = 0;     // query heads
  int32_t n_kv_heads = 0;  // key/value heads (GQA: n_heads is a multiple of it)
  int32_t head_dim = 0;
  int32_t block_size = 0;  // positions per KV block
  float scale = 0.0f;      // usually 1/sqrt(head_dim)
  // Score every query the same way whatever the tile's row count (kernels otherwise pick direct
  // dot products for few rows and a transposed-key path for many, which round differently).
  bool batch_invariant = false;

  // Floats from the start of a block to the first key (or value) of `kv_head` in it.
  int64_t kv_head_offset(int32_t kv_head) const {
    return static_cast<int64_t>(kv_head) * block_size * head_dim;
  }
};

// Where attention finds the keys (or values) of one layer as f32 rows of head_dim floats.
struct KvRowSource {
  // f32 storage: row (block, kv_head, slot) is at f32 + block * block_stride +
  // shape.kv_head_offset(kv_head) + slot * head_dim. nullptr for any other format.
  const float* f32 = nullptr;
  int64_t block_stride = 0;  // floats from one block to the next (f32 storage)
  // Other formats: writes slots [slot0, slot0 + n) of kv_head in `block` to dst as [n][d]; pos0
  // is the sequence position of slot0 (keys stored before RoPE get their rotation back from it).
  void (*decode)(const void* ctx, int32_t block, int32_t kv_head, int32_t slot0, int32_t n,
                 int64_t pos0, float* dst) = nullptr;
  const void* ctx = nullptr;
  // Other formats, optional: starts loading what decode(ctx, block, kv_head, ...) will read. A
  // short chunk reads each position's K and V once per step, from memory, in blocks scattered
  // over the pool; without a hint every block starts with a miss.
  void (*prefetch)(const void* ctx, int32_t block, int32_t kv_head) = nullptr;

  bool in_place() const { return f32 != nullptr; }
};

struct KvLayerView {
  KvRowSource k, v;
};

// A view of f32 key and value pools laid out [block][kv_head][slot][head_dim].
inline KvLayerView f32_layer_view(const float* k, const float* v, int64_t block_stride) {
  KvLayerView view;
  view.k.f32 = k;
  view.k.block_stride = block_stride;
  view.v.f32 = v;
  view.v.block_stride = block_stride;
  return view;
}

// One work item: queries [q_begin, q_end) of one sequence, for the query heads that share KV
// head `kv_head` (heads kv_head*g .. kv_head*g+g-1, g = n_heads / n_kv_heads). Query i of the
// sequence is at absolute position pos0 + i and attends to positions 0 .. pos0 + i, whose K and V
// must already be in the cache.
//   q:   row i at q + i * q_stride, heads laid out [n_heads][head_dim] within the row
//   out: same layout as q (out + i * out_stride)
struct AttentionItem {
  const float* q = nullptr;
  int64_t q_stride = 0;
  float* out = nullptr;
  int64_t out_stride = 0;
  int64_t q_begin = 0;
  int64_t q_end = 0;
  int64_t pos0 = 0;
  int32_t kv_head = 0;
  const int32_t* block_table = nullptr;
};

// Runs the attention kernel of the active level (active_kernels()), or the scalar one for a
// head_dim that kernel does not handle. Scratch is O(tile): per-call memory does not depend on
// the context length, and nothing is allocated per call.
void attention(const AttentionShape& shape, const KvLayerView& kv, const AttentionItem& item);
// The same with the kernels of a chosen level (tests, benchmarks).
void attention_with(const KernelTable& kt, const AttentionShape& shape, const KvLayerView& kv,
                    const AttentionItem& item);

}  // namespace packinfer
