// AVX2 causal attention over the paged KV cache (see attention.h), flash-attention style.
//
// Plan: a tile of up to kMaxQueries queries x the g query heads sharing the item's KV head forms
// up to kMaxRows "rows". The tile walks the keys in chunks of kChunk positions (resolved through
// the block table one position at a time, so any block_size works; with block_size 16 a chunk
// is exactly one block). For each chunk every row computes its 16 scores, updates its running
// max m and sum l (online softmax) and folds the rescale factor exp(m_old - m_new) into its
// output accumulator while adding P·V. So each K/V chunk is loaded from cache once per tile and
// then reused from L1 by all rows, and scratch is O(rows * head_dim) whatever the context length.
//
// Scores: tiles of many rows (prefill) transpose each key chunk once and accumulate 4 rows x 16
// keys with broadcast FMAs; tiles of few rows (decode: the g heads of one query) use direct dot
// products with horizontal sums instead, since the transpose would not be amortised (unless
// shape.batch_invariant: the two round differently, so then every tile transposes). The
// micro-kernels are in attention_kernels_avx2.h; head_dim 64 and 128 are compiled with a
// constant head_dim so their loops unroll fully.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/avx2/attention_kernels_avx2.h"
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/exp_avx2.h"

namespace packinfer {
namespace {

using namespace attn_avx2;

constexpr int kMaxRows = 32;    // (query, head) rows per tile
constexpr int kMaxQueries = 8;  // queries per tile; more rows would not stay in L1
constexpr int kMaxHd = kAttentionMaxHeadDimAvx2;
// From this many rows per tile on, transposing each key chunk once (shared by all rows) is
// cheaper than the horizontal sums of direct dot products; decode tiles (g rows) stay direct.
constexpr int kTransposeMinRows = 8;
// Rows scored together against the transposed chunk: 6 rows x 2 key vectors = 12 accumulators,
// plus 2 key vectors and a broadcast, fits the 16 ymm registers.
constexpr int kScoreRows = 6;

// Per-tile scratch, on the stack of the calling thread (about 82 KB: sized for head_dim 256).
struct Tile {
  alignas(32) float q[kMaxRows][kMaxHd];  // query rows pre-multiplied by the scale
  alignas(32) float o[kMaxRows][kMaxHd];  // unnormalised output accumulators
  alignas(32) float p[kMaxRows][kChunk];  // probabilities of the current chunk
  alignas(32) float kt[kMaxHd][kChunk];   // the chunk's keys transposed: kt[d][key]
  float m[kMaxRows];                      // running max of the scores
  alignas(32) float l[kMaxRows][8];  // running sum of exp(score - m), 8 lanes summed at the end
  float alpha[kMaxRows];             // rescale factor of the current chunk
  int valid[kMaxRows];               // keys of the current chunk the row may see
  int64_t qpos[kMaxRows];            // absolute position of the row's query
  // The current chunk's keys and values decoded to f32, for caches stored in other formats.
  alignas(32) float kdec[kChunk * kMaxHd];  // row j at j * head_dim
  alignas(32) float vdec[kChunk * kMaxHd];
};

// Keys of the chunk starting at c0 (nk of them) that row r may see under the causal mask.
inline int valid_keys(Tile& t, int r, int64_t c0, int nk) {
  const int valid = static_cast<int>(std::clamp<int64_t>(t.qpos[r] - c0 + 1, 0, nk));
  t.valid[r] = valid;
  return valid;
}

// The whole chunk is in row r's future: nothing to add. Its P is zeroed because the row it is
// paired with in P·V may use more keys.
inline void skip_chunk(Tile& t, int r) {
  t.alpha[r] = 1.0f;
  _mm256_store_ps(t.p[r], _mm256_setzero_ps());
  _mm256_store_ps(t.p[r] + 8, _mm256_setzero_ps());
}

// Online-softmax step of row r for scores s0 (keys 0-7) and s1 (keys 8-15) of which the first
// `valid` (>= 1) count: new running max, probabilities p = exp(s - m) into t.p, rescale factor
// of the old accumulators into t.alpha, running sum into t.l.
inline void online_update(Tile& t, int r, __m256 s0, __m256 s1, int valid) {
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const __m256 vvalid = _mm256_set1_ps(static_cast<float>(valid));
  s0 = _mm256_blendv_ps(neg_inf, s0,
                        _mm256_cmp_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), vvalid, _CMP_LT_OQ));
  s1 = _mm256_blendv_ps(
      neg_inf, s1, _mm256_cmp_ps(_mm256_setr_ps(8, 9, 10, 11, 12, 13, 14, 15), vvalid, _CMP_LT_OQ));
  // The running max rarely changes once a few chunks are seen, so test that with one compare
  // first and only then pay for the horizontal max and the rescale factor.
  const __m256 smax = _mm256_max_ps(s0, s1);
  const float m_old = t.m[r];
  float m_new = m_old, alpha = 1.0f;
  if (_mm256_movemask_ps(_mm256_cmp_ps(smax, _mm256_set1_ps(m_old), _CMP_GT_OQ)) != 0) {
    m_new = avx2::hmax_ps(smax);
    alpha = std::exp(m_old - m_new);  // 0 on the first chunk (m = -inf)
    t.m[r] = m_new;
  }
  const __m256 vm = _mm256_set1_ps(m_new);
  const __m256 p0 = avx2::exp_ps(_mm256_sub_ps(s0, vm));  // masked lanes: exp(-inf) = 0
  const __m256 p1 = valid > 8 ? avx2::exp_ps(_mm256_sub_ps(s1, vm)) : _mm256_setzero_ps();
  _mm256_store_ps(t.p[r], p0);
  _mm256_store_ps(t.p[r] + 8, p1);
  t.alpha[r] = alpha;
  __m256 l = _mm256_load_ps(t.l[r]);
  if (alpha != 1.0f) l = _mm256_mul_ps(l, _mm256_set1_ps(alpha));
  _mm256_store_ps(t.l[r], _mm256_add_ps(l, _mm256_add_ps(p0, p1)));
}

// One tile: queries [i0, i1) x heads [h0, h0 + hg) of the item's KV head.
template <int NV>
void run_tile(const AttentionShape& shape, const KvLayerView& kv, const AttentionItem& item,
              int64_t i0, int64_t i1, int h0, int hg, Tile& t) {
  const int hd = shape.head_dim;
  const int nv = vecs<NV>(hd / 8);
  const int g = shape.n_heads / shape.n_kv_heads;
  const int rows = static_cast<int>(i1 - i0) * hg;
  const __m256 scale = _mm256_set1_ps(shape.scale);
  const float neg_inf = -std::numeric_limits<float>::infinity();

  for (int r = 0; r < rows; ++r) {
    const int64_t i = i0 + r / hg;
    const int head = item.kv_head * g + h0 + r % hg;
    const float* src = item.q + i * item.q_stride + static_cast<int64_t>(head) * hd;
    for (int v = 0; v < nv; ++v) {
      _mm256_store_ps(t.q[r] + 8 * v, _mm256_mul_ps(_mm256_loadu_ps(src + 8 * v), scale));
      _mm256_store_ps(t.o[r] + 8 * v, _mm256_setzero_ps());
    }
    t.m[r] = neg_inf;
    _mm256_store_ps(t.l[r], _mm256_setzero_ps());
    t.qpos[r] = item.pos0 + i;
  }

  const int64_t kv_len = item.pos0 + i1;  // the last query sees positions 0 .. pos0 + i1 - 1
  const int64_t head_off = shape.kv_head_offset(item.kv_head);
  const int bs = shape.block_size;
  const float* kp[kChunk];
  const float* vp[kChunk];

  // Offsets of the current and next chunk's positions: the next chunk is resolved one step
  // ahead so its K/V rows can be prefetched (blocks are scattered over the pool, which defeats
  // the hardware prefetcher at every block boundary).
  int64_t off[kChunk], off_next[kChunk];
  const bool in_place = kv.k.in_place() && kv.v.in_place();
  const int64_t stride = kv.k.block_stride;
  int nk_next = in_place ? resolve_chunk(item, 0, kv_len, bs, stride, head_off, hd, off_next)
                         : static_cast<int>(std::min<int64_t>(kChunk, kv_len));
  for (int64_t c0 = 0; c0 < kv_len; c0 += kChunk) {
    const int nk = nk_next;
    if (in_place) {
      std::copy(off_next, off_next + nk, off);
      nk_next = resolve_chunk(item, c0 + kChunk, kv_len, bs, stride, head_off, hd, off_next);
      for (int j = 0; j < nk_next; ++j) {
        for (int b = 0; b < hd; b += 16) {  // one 64-byte line per 16 floats
          _mm_prefetch(reinterpret_cast<const char*>(kv.k.f32 + off_next[j] + b), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(kv.v.f32 + off_next[j] + b), _MM_HINT_T0);
        }
      }
      for (int j = 0; j < nk; ++j) {
        kp[j] = kv.k.f32 + off[j];
        vp[j] = kv.v.f32 + off[j];
      }
    } else {
      nk_next = static_cast<int>(std::min<int64_t>(kChunk, kv_len - c0 - kChunk));
      prefetch_ahead(kv, item, c0, kv_len, bs);
      chunk_rows(kv.k, item, c0, nk, bs, hd, head_off, t.kdec, kp);
      chunk_rows(kv.v, item, c0, nk, bs, hd, head_off, t.vdec, vp);
    }
    for (int j = nk; j < kChunk; ++j) kp[j] = kp[0];  // read but masked out

    int r = 0;
    if (rows >= kTransposeMinRows || shape.batch_invariant) {
      // Many rows: transpose the chunk's keys once, then kScoreRows rows at a time without
      // reductions.
      transpose_keys<NV>(kp, nk > 8 ? 2 : 1, nv, t.kt);
      for (; r < rows; r += kScoreRows) {
        const int nr = std::min(kScoreRows, rows - r);
        int n = 0;
        for (int i = 0; i < nr; ++i) n = std::max(n, valid_keys(t, r + i, c0, nk));
        if (n <= 0) {
          for (int i = 0; i < nr; ++i) skip_chunk(t, r + i);
          continue;
        }
        const float* q[kScoreRows];
        for (int i = 0; i < kScoreRows; ++i) q[i] = t.q[std::min(r + i, rows - 1)];
        __m256 sc[kScoreRows][2];
        switch (nr) {
          case 6:
            scores_kt<NV, 6>(q, t.kt, hd, sc);
            break;
          case 5:
            scores_kt<NV, 5>(q, t.kt, hd, sc);
            break;
          case 4:
            scores_kt<NV, 4>(q, t.kt, hd, sc);
            break;
          case 3:
            scores_kt<NV, 3>(q, t.kt, hd, sc);
            break;
          case 2:
            scores_kt<NV, 2>(q, t.kt, hd, sc);
            break;
          default:
            scores_kt<NV, 1>(q, t.kt, hd, sc);
            break;
        }
        for (int i = 0; i < nr; ++i) {
          if (t.valid[r + i] > 0) {
            online_update(t, r + i, sc[i][0], sc[i][1], t.valid[r + i]);
          } else {
            skip_chunk(t, r + i);
          }
        }
      }
    } else {
      // Scores, two rows at a time (the last one alone when rows is odd), then the online-softmax
      // update of each row.
      for (; r + 2 <= rows; r += 2) {
        const int va = valid_keys(t, r, c0, nk), vb = valid_keys(t, r + 1, c0, nk);
        const int n = std::max(va, vb);
        if (n <= 0) {
          skip_chunk(t, r);
          skip_chunk(t, r + 1);
          continue;
        }
        __m256 g[4];  // key groups of 4, each [row a | row b]
        for (int k = 0; k < 4; ++k) {
          g[k] = 4 * k < n ? dot2x4<NV>(t.q[r], t.q[r + 1], kp + 4 * k, nv) : _mm256_setzero_ps();
        }
        const __m256 a0 = _mm256_permute2f128_ps(g[0], g[1], 0x20);
        const __m256 b0 = _mm256_permute2f128_ps(g[0], g[1], 0x31);
        const __m256 a1 = _mm256_permute2f128_ps(g[2], g[3], 0x20);
        const __m256 b1 = _mm256_permute2f128_ps(g[2], g[3], 0x31);
        online_update(t, r, a0, a1, va);
        online_update(t, r + 1, b0, b1, vb);
      }
      if (r < rows) {
        const int va = valid_keys(t, r, c0, nk);
        if (va <= 0) {
          skip_chunk(t, r);
        } else {
          const __m256 s0 = dot8<NV>(t.q[r], kp, nv);
          const __m256 s1 = va > 8 ? dot8<NV>(t.q[r], kp + 8, nv) : _mm256_setzero_ps();
          online_update(t, r, s0, s1, va);
        }
      }
    }

    // o = o * alpha + P V, two rows at a time so each loaded V vector feeds two FMAs.
    for (r = 0; r + 2 <= rows; r += 2) {
      const int n = std::max(t.valid[r], t.valid[r + 1]);
      float* o[2] = {t.o[r], t.o[r + 1]};
      const float* p[2] = {t.p[r], t.p[r + 1]};
      if (n > 0) pv_rows<2>(o, p, t.alpha + r, vp, n, nv);
    }
    if (r < rows && t.valid[r] > 0) {
      float* o[1] = {t.o[r]};
      const float* p[1] = {t.p[r]};
      pv_rows<1>(o, p, t.alpha + r, vp, t.valid[r], nv);
    }
  }

  for (int r = 0; r < rows; ++r) {
    const int64_t i = i0 + r / hg;
    const int head = item.kv_head * g + h0 + r % hg;
    float* dst = item.out + i * item.out_stride + static_cast<int64_t>(head) * hd;
    const __m256 inv = _mm256_set1_ps(1.0f / avx2::hsum_ps(_mm256_load_ps(t.l[r])));
    for (int v = 0; v < nv; ++v)
      _mm256_storeu_ps(dst + 8 * v, _mm256_mul_ps(_mm256_load_ps(t.o[r] + 8 * v), inv));
  }
}

template <int NV>
void run_item(const AttentionShape& shape, const KvLayerView& kv, const AttentionItem& item) {
  Tile t;
  const int g = shape.n_heads / shape.n_kv_heads;
  for (int h0 = 0; h0 < g; h0 += kMaxRows) {
    const int hg = std::min(g - h0, kMaxRows);
    const int64_t qt = std::clamp(kMaxRows / hg, 1, kMaxQueries);
    for (int64_t i0 = item.q_begin; i0 < item.q_end; i0 += qt) {
      run_tile<NV>(shape, kv, item, i0, std::min(item.q_end, i0 + qt), h0, hg, t);
    }
  }
}

}  // namespace

void attention_avx2(const AttentionShape& shape, const KvLayerView& kv, const AttentionItem& item) {
  switch (shape.head_dim) {
    case 64:
      run_item<8>(shape, kv, item);
      break;  // SmolLM2, llama-style small models
    case 128:
      run_item<16>(shape, kv, item);
      break;  // most 1B+ models
    default:
      run_item<0>(shape, kv, item);
      break;
  }
}

}  // namespace packinfer
