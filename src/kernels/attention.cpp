// Attention dispatch: the level's kernel where it handles the head size, else the scalar one.
#include "kernels/attention.h"

#include "kernels/kernel_table.h"

namespace packinfer {

void attention_with(const KernelTable& kt, const AttentionShape& shape, const KvLayerView& kv,
                    const AttentionItem& item) {
  if (shape.head_dim % kt.attention_head_dim_multiple == 0 &&
      shape.head_dim <= kt.attention_max_head_dim) {
    kt.attention(shape, kv, item);
  } else {
    kernels_for(Isa::Scalar).attention(shape, kv, item);
  }
}

void attention(const AttentionShape& shape, const KvLayerView& kv, const AttentionItem& item) {
  attention_with(active_kernels(), shape, kv, item);
}

}  // namespace packinfer
