// Scalar reference attention. It follows the same plan as the SIMD ones (online softmax, one KV
// block at a time, all g query heads of the KV head together) so that it is a readable model of
// them, but keeps one query row at a time.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {

void attention_scalar(const AttentionShape& shape, const KvLayerView& kv,
                      const AttentionItem& item) {
  const int g = shape.n_heads / shape.n_kv_heads;
  const int hd = shape.head_dim;
  const int bs = shape.block_size;
  // Scratch grows to the largest shape seen by this thread and is then reused: no allocation per
  // call in steady state. O(g * head_dim + block_size), independent of the context length.
  thread_local std::vector<float> acc, m, l, s, kdec, vdec;
  acc.resize(static_cast<size_t>(g) * hd);
  m.resize(g);
  l.resize(g);
  s.resize(bs);
  kdec.resize(static_cast<size_t>(bs) * hd);
  vdec.resize(static_cast<size_t>(bs) * hd);
  const int64_t head_off = static_cast<int64_t>(shape.kv_head_offset(item.kv_head));
  // The rows of one block of the item's KV head: in place (f32 cache) or decoded into scratch.
  auto rows = [&](const KvRowSource& src, int32_t block, int64_t pos, int n,
                  std::vector<float>& dec) {
    if (src.in_place()) return src.f32 + block * src.block_stride + head_off;
    src.decode(src.ctx, block, item.kv_head, 0, n, pos, dec.data());
    return static_cast<const float*>(dec.data());
  };

  for (int64_t i = item.q_begin; i < item.q_end; ++i) {
    const float* qrow = item.q + i * item.q_stride + static_cast<int64_t>(item.kv_head) * g * hd;
    const int64_t kv_len = item.pos0 + i + 1;  // causal: positions 0 .. pos0 + i
    std::fill(acc.begin(), acc.end(), 0.0f);
    std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
    std::fill(l.begin(), l.end(), 0.0f);
    for (int64_t p0 = 0; p0 < kv_len; p0 += bs) {
      const int32_t block = item.block_table[p0 / bs];
      const int n = static_cast<int>(std::min<int64_t>(bs, kv_len - p0));
      const float* kb = rows(kv.k, block, p0, n, kdec);
      const float* vb = rows(kv.v, block, p0, n, vdec);
      for (int h = 0; h < g; ++h) {
        const float* q = qrow + h * hd;
        float bmax = -std::numeric_limits<float>::infinity();
        for (int j = 0; j < n; ++j) {
          float dot = 0.0f;
          for (int d = 0; d < hd; ++d) dot += q[d] * kb[j * hd + d];
          s[j] = dot * shape.scale;
          bmax = std::max(bmax, s[j]);
        }
        // Online softmax: rescale what was accumulated under the old maximum.
        const float m_new = std::max(m[h], bmax);
        const float alpha = std::exp(m[h] - m_new);  // exp(-inf) = 0 on the first block
        float* o = acc.data() + h * hd;
        float sum = 0.0f;
        for (int d = 0; d < hd; ++d) o[d] *= alpha;
        for (int j = 0; j < n; ++j) {
          const float pj = std::exp(s[j] - m_new);
          sum += pj;
          for (int d = 0; d < hd; ++d) o[d] += pj * vb[j * hd + d];
        }
        l[h] = l[h] * alpha + sum;
        m[h] = m_new;
      }
    }
    float* orow = item.out + i * item.out_stride + static_cast<int64_t>(item.kv_head) * g * hd;
    for (int h = 0; h < g; ++h) {
      const float inv = 1.0f / l[h];
      for (int d = 0; d < hd; ++d) orow[h * hd + d] = acc[h * hd + d] * inv;
    }
  }
}

}  // namespace packinfer
