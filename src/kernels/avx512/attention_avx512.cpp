// AVX-512 causal attention over the paged KV cache (see attention.h): the plan of
// attention_avx2.cpp (tiles of queries x the g heads of one KV head, online softmax over chunks
// of 16 key positions, K/V of a chunk loaded or decoded once per tile and reused from L1 by every
// row) with 16-lane vectors: a chunk's 16 scores of a row are one register.
//
// Scores always go through the chunk's keys transposed once per chunk (kt[d][key], one register
// per dimension), kScoreRows rows at a time with broadcast FMAs and no horizontal sums; P·V adds
// the chunk's value rows, four rows of the tile at a time so each loaded V vector feeds four
// FMAs. Keys and values come through the KvRowSource: in place for f32 storage, else decoded by
// the format's codec a block run at a time into the tile (never the whole cache). Heads that are
// a multiple of 8 but not of 16 run the avx2 kernel.
#include <immintrin.h>

// GCC 12's AVX-512 reductions and down-conversions start from _mm512_undefined_*(), which
// -Wmaybe-uninitialized reports as used uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/avx2/attention_kernels_avx2.h"
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/avx512/exp_avx512.h"

namespace packinfer {
namespace {

using attn_avx2::kChunk;  // 16 positions: one register of scores per row
static_assert(kChunk == 16);

// (query, head) rows per tile. Every row of a tile shares one pass over the keys, whose decoding
// (formats other than f32) and transposition is paid once per tile: the more rows, the fewer
// passes. The rows' q and o must stay in L1 beside the chunk's keys and values (48 KB on Zen 5
// and Sapphire Rapids): 48 rows of head size 64 take 24 KB, 32 rows of head size 128 32 KB.
constexpr int kMaxRows = 48;
constexpr int kMaxQueries = 16;       // queries per tile
constexpr int kRowFloatsInL1 = 4096;  // rows x head size of a tile's q (and of its o)
constexpr int kMaxHd = kAttentionMaxHeadDimAvx512;

int tile_rows(int head_dim) { return std::clamp(kRowFloatsInL1 / head_dim, 1, kMaxRows); }

constexpr int kScoreRows = 8;  // rows scored together: 8 accumulators + the key register
constexpr int kPvRows = 4;     // rows accumulated together in P·V: 4 rows x 4 vectors + 4 V

struct Tile {
  // Query rows pre-multiplied by the scale, and the unnormalised output accumulators: row r at
  // r * head_dim, so a tile's rows are contiguous (a fixed stride of kMaxHd would put every row
  // in the same few L1 sets).
  alignas(64) float q[kMaxRows * kMaxHd];
  alignas(64) float o[kMaxRows * kMaxHd];
  int hd = 0;
  float* qrow(int r) { return q + r * hd; }
  float* orow(int r) { return o + r * hd; }
  alignas(64) float p[kMaxRows][kChunk];  // probabilities of the current chunk
  alignas(64) float kt[kMaxHd][kChunk];   // the chunk's keys transposed: kt[d][key]
  alignas(64) float l[kMaxRows][16];      // running sum of exp(score - m), per lane
  float m[kMaxRows];                      // running max of the scores
  float alpha[kMaxRows];                  // rescale factor of the current chunk
  int valid[kMaxRows];                    // keys of the current chunk the row may see
  int64_t qpos[kMaxRows];                 // absolute position of the row's query
  // The current chunk's keys and values decoded to f32 (caches in other formats).
  alignas(64) float kdec[kChunk * kMaxHd];
  alignas(64) float vdec[kChunk * kMaxHd];
};

template <int NV>
inline int vecs(int nv_rt) {
  return NV ? NV : nv_rt;
}

// Online-softmax step of row r for the chunk's scores s, of which the first `valid` (>= 1)
// count: new running max, p = exp(s - m) into t.p, the old accumulators' rescale factor into
// t.alpha, the running sum into t.l.
inline void online_update(Tile& t, int r, __m512 s, int valid) {
  const __mmask16 seen = static_cast<__mmask16>(valid >= 16 ? 0xffff : (1u << valid) - 1);
  s = _mm512_mask_mov_ps(_mm512_set1_ps(-std::numeric_limits<float>::infinity()), seen, s);
  const float m_old = t.m[r];
  float m_new = m_old, alpha = 1.0f;
  // The running max rarely moves once a few chunks are seen: one compare decides.
  if (_mm512_cmp_ps_mask(s, _mm512_set1_ps(m_old), _CMP_GT_OQ) != 0) {
    m_new = _mm512_reduce_max_ps(s);
    alpha = std::exp(m_old - m_new);  // 0 on the first chunk (m = -inf)
    t.m[r] = m_new;
  }
  const __m512 p = avx512::exp_ps(_mm512_sub_ps(s, _mm512_set1_ps(m_new)));  // masked: 0
  _mm512_store_ps(t.p[r], p);
  t.alpha[r] = alpha;
  __m512 l = _mm512_load_ps(t.l[r]);
  if (alpha != 1.0f) l = _mm512_mul_ps(l, _mm512_set1_ps(alpha));
  _mm512_store_ps(t.l[r], _mm512_add_ps(l, p));
}

// The whole chunk is in row r's future. Its P is zeroed: the rows it shares P·V with may see
// more keys.
inline void skip_chunk(Tile& t, int r) {
  t.alpha[r] = 1.0f;
  _mm512_store_ps(t.p[r], _mm512_setzero_ps());
}

// Scores of NR rows against the transposed chunk.
template <int NV, int NR>
inline void scores_kt(const float* const* q, const float (*kt)[kChunk], int hd_rt, __m512* s) {
  __m512 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm512_setzero_ps();
  const int hd = NV ? 16 * NV : hd_rt;
#pragma GCC unroll 4
  for (int d = 0; d < hd; ++d) {
    const __m512 k = _mm512_load_ps(kt[d]);
    for (int r = 0; r < NR; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(q[r][d]), k, acc[r]);
  }
  for (int r = 0; r < NR; ++r) s[r] = acc[r];
}

// o[r] = o[r] * alpha[r] + sum_{j < n} p[r][j] * v_j over NR rows and S vectors from vector v0.
template <int NR, int S>
inline void pv_slice(float* const* o, const float* const* p, const float* alpha,
                     const float* const* vp, int n, int v0) {
  __m512 acc[NR][S];
  for (int r = 0; r < NR; ++r) {
    for (int s = 0; s < S; ++s) acc[r][s] = _mm512_load_ps(o[r] + 16 * (v0 + s));
    if (alpha[r] != 1.0f) {
      const __m512 a = _mm512_set1_ps(alpha[r]);
      for (int s = 0; s < S; ++s) acc[r][s] = _mm512_mul_ps(acc[r][s], a);
    }
  }
  for (int j = 0; j < n; ++j) {
    __m512 vv[S];
    for (int s = 0; s < S; ++s) vv[s] = _mm512_loadu_ps(vp[j] + 16 * (v0 + s));
    for (int r = 0; r < NR; ++r) {
      const __m512 b = _mm512_set1_ps(p[r][j]);
      for (int s = 0; s < S; ++s) acc[r][s] = _mm512_fmadd_ps(b, vv[s], acc[r][s]);
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int s = 0; s < S; ++s) _mm512_store_ps(o[r] + 16 * (v0 + s), acc[r][s]);
}

template <int NR>
inline void pv_rows(float* const* o, const float* const* p, const float* alpha,
                    const float* const* vp, int n, int nv) {
  int v = 0;
  for (; v + 4 <= nv; v += 4) pv_slice<NR, 4>(o, p, alpha, vp, n, v);
  switch (nv - v) {
    case 3:
      pv_slice<NR, 3>(o, p, alpha, vp, n, v);
      break;
    case 2:
      pv_slice<NR, 2>(o, p, alpha, vp, n, v);
      break;
    case 1:
      pv_slice<NR, 1>(o, p, alpha, vp, n, v);
      break;
    default:
      break;
  }
}

// P·V of rows [r, r + nr) (nr <= kPvRows) for keys below the largest count any of them sees.
inline void pv_group(Tile& t, int r, int nr, const float* const* vp, int nv) {
  int n = 0;
  for (int i = 0; i < nr; ++i) n = std::max(n, t.valid[r + i]);
  if (n <= 0) return;
  float* o[kPvRows];
  const float* p[kPvRows];
  for (int i = 0; i < nr; ++i) {
    o[i] = t.orow(r + i);
    p[i] = t.p[r + i];
  }
  switch (nr) {
    case 4:
      pv_rows<4>(o, p, t.alpha + r, vp, n, nv);
      break;
    case 3:
      pv_rows<3>(o, p, t.alpha + r, vp, n, nv);
      break;
    case 2:
      pv_rows<2>(o, p, t.alpha + r, vp, n, nv);
      break;
    default:
      pv_rows<1>(o, p, t.alpha + r, vp, n, nv);
      break;
  }
}

template <int NV>
void score_group(Tile& t, int r, int nr, int hd, int64_t c0, int nk) {
  int n = 0;
  for (int i = 0; i < nr; ++i) {
    const int v = static_cast<int>(std::clamp<int64_t>(t.qpos[r + i] - c0 + 1, 0, nk));
    t.valid[r + i] = v;
    n = std::max(n, v);
  }
  if (n <= 0) {
    for (int i = 0; i < nr; ++i) skip_chunk(t, r + i);
    return;
  }
  const float* q[kScoreRows];
  for (int i = 0; i < nr; ++i) q[i] = t.qrow(r + i);
  __m512 s[kScoreRows];
  switch (nr) {
    case 8:
      scores_kt<NV, 8>(q, t.kt, hd, s);
      break;
    case 7:
      scores_kt<NV, 7>(q, t.kt, hd, s);
      break;
    case 6:
      scores_kt<NV, 6>(q, t.kt, hd, s);
      break;
    case 5:
      scores_kt<NV, 5>(q, t.kt, hd, s);
      break;
    case 4:
      scores_kt<NV, 4>(q, t.kt, hd, s);
      break;
    case 3:
      scores_kt<NV, 3>(q, t.kt, hd, s);
      break;
    case 2:
      scores_kt<NV, 2>(q, t.kt, hd, s);
      break;
    default:
      scores_kt<NV, 1>(q, t.kt, hd, s);
      break;
  }
  for (int i = 0; i < nr; ++i) {
    if (t.valid[r + i] > 0) {
      online_update(t, r + i, s[i], t.valid[r + i]);
    } else {
      skip_chunk(t, r + i);
    }
  }
}

// One tile: queries [i0, i1) x heads [h0, h0 + hg) of the item's KV head.
template <int NV>
void run_tile(const AttentionShape& shape, const KvLayerView& kv, const AttentionItem& item,
              int64_t i0, int64_t i1, int h0, int hg, Tile& t) {
  const int hd = shape.head_dim;
  const int nv = vecs<NV>(hd / 16);
  const int g = shape.n_heads / shape.n_kv_heads;
  const int rows = static_cast<int>(i1 - i0) * hg;
  const __m512 scale = _mm512_set1_ps(shape.scale);

  for (int r = 0; r < rows; ++r) {
    const int64_t i = i0 + r / hg;
    const int head = item.kv_head * g + h0 + r % hg;
    const float* src = item.q + i * item.q_stride + static_cast<int64_t>(head) * hd;
    for (int v = 0; v < nv; ++v) {
      _mm512_store_ps(t.qrow(r) + 16 * v, _mm512_mul_ps(_mm512_loadu_ps(src + 16 * v), scale));
      _mm512_store_ps(t.orow(r) + 16 * v, _mm512_setzero_ps());
    }
    t.m[r] = -std::numeric_limits<float>::infinity();
    _mm512_store_ps(t.l[r], _mm512_setzero_ps());
    t.qpos[r] = item.pos0 + i;
  }

  const int64_t kv_len = item.pos0 + i1;  // the last query sees positions 0 .. pos0 + i1 - 1
  const int64_t head_off = shape.kv_head_offset(item.kv_head);
  const int bs = shape.block_size;
  const bool in_place = kv.k.in_place() && kv.v.in_place();
  const float* kp[kChunk];
  const float* vp[kChunk];
  int64_t off_next[kChunk];
  int nk_next = in_place ? attn_avx2::resolve_chunk(item, 0, kv_len, bs, kv.k.block_stride,
                                                    head_off, hd, off_next)
                         : 0;
  for (int64_t c0 = 0; c0 < kv_len; c0 += kChunk) {
    const int nk = static_cast<int>(std::min<int64_t>(kChunk, kv_len - c0));
    if (in_place) {
      // f32 in place: the next chunk is resolved one step ahead and prefetched (blocks are
      // scattered over the pool, which defeats the hardware prefetcher at block boundaries).
      for (int j = 0; j < nk; ++j) {
        kp[j] = kv.k.f32 + off_next[j];
        vp[j] = kv.v.f32 + off_next[j];
      }
      nk_next = attn_avx2::resolve_chunk(item, c0 + kChunk, kv_len, bs, kv.k.block_stride, head_off,
                                         hd, off_next);
      for (int j = 0; j < nk_next; ++j) {
        for (int b = 0; b < hd; b += 16) {
          _mm_prefetch(reinterpret_cast<const char*>(kv.k.f32 + off_next[j] + b), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(kv.v.f32 + off_next[j] + b), _MM_HINT_T0);
        }
      }
    } else {
      attn_avx2::prefetch_ahead(kv, item, c0, kv_len, bs);
      attn_avx2::chunk_rows(kv.k, item, c0, nk, bs, hd, head_off, t.kdec, kp);
      attn_avx2::chunk_rows(kv.v, item, c0, nk, bs, hd, head_off, t.vdec, vp);
    }
    for (int j = nk; j < kChunk; ++j) kp[j] = kp[0];  // transposed but masked out

    attn_avx2::transpose_keys<2 * NV>(kp, nk > 8 ? 2 : 1, 2 * nv, t.kt);
    for (int r = 0; r < rows; r += kScoreRows) {
      score_group<NV>(t, r, std::min(kScoreRows, rows - r), hd, c0, nk);
    }
    for (int r = 0; r < rows; r += kPvRows) pv_group(t, r, std::min(kPvRows, rows - r), vp, nv);
  }

  for (int r = 0; r < rows; ++r) {
    const int64_t i = i0 + r / hg;
    const int head = item.kv_head * g + h0 + r % hg;
    float* dst = item.out + i * item.out_stride + static_cast<int64_t>(head) * hd;
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(_mm512_load_ps(t.l[r])));
    for (int v = 0; v < nv; ++v)
      _mm512_storeu_ps(dst + 16 * v, _mm512_mul_ps(_mm512_load_ps(t.orow(r) + 16 * v), inv));
  }
}

template <int NV>
void run_item(const AttentionShape& shape, const KvLayerView& kv, const AttentionItem& item) {
  Tile t;
  t.hd = shape.head_dim;
  const int g = shape.n_heads / shape.n_kv_heads;
  const int max_rows = tile_rows(shape.head_dim);
  for (int h0 = 0; h0 < g; h0 += max_rows) {
    const int hg = std::min(g - h0, max_rows);
    // As many tiles as the tile size needs, evenly sized (27 queries: 14 + 13, not 16 + 11).
    const int64_t max_q = std::clamp(max_rows / hg, 1, kMaxQueries);
    const int64_t n_q = item.q_end - item.q_begin;
    const int64_t n_t = (n_q + max_q - 1) / max_q;
    const int64_t qt = std::max<int64_t>(1, (n_q + n_t - 1) / n_t);
    for (int64_t i0 = item.q_begin; i0 < item.q_end; i0 += qt) {
      run_tile<NV>(shape, kv, item, i0, std::min(item.q_end, i0 + qt), h0, hg, t);
    }
  }
}

}  // namespace

void attention_avx512(const AttentionShape& shape, const KvLayerView& kv,
                      const AttentionItem& item) {
  switch (shape.head_dim) {
    case 64:
      run_item<4>(shape, kv, item);
      break;
    case 128:
      run_item<8>(shape, kv, item);
      break;
    default:
      if (shape.head_dim % 16 != 0) return attention_avx2(shape, kv, item);
      run_item<0>(shape, kv, item);
      break;
  }
}

}  // namespace packinfer
