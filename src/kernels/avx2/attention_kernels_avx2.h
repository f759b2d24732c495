#pragma once
// Register-level building blocks of the AVX2 attention (attention_avx2.cpp): QK scores, either as
// direct dot products reduced with horizontal adds (few rows) or against a transposed key chunk
// (many rows), and the P·V accumulation. Include only from the folders of avx2 and higher levels.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/attention.h"

namespace packinfer::attn_avx2 {

constexpr int kChunk = 16;  // key positions per step (two 8-lane score vectors)

// Offsets (floats from the pool base) of the key/value rows of positions c0 .. c0 + n - 1 of the
// item's KV head, n = min(kChunk, kv_len - c0) (may be <= 0: nothing to resolve). One division
// per chunk, then slots step through the block table.
inline int resolve_chunk(const AttentionItem& item, int64_t c0, int64_t kv_len, int bs,
                         int64_t block_stride, int64_t head_off, int hd, int64_t* off) {
  const int n = static_cast<int>(std::min<int64_t>(kChunk, kv_len - c0));
  int64_t bi = c0 / bs;
  int slot = static_cast<int>(c0 - bi * bs);
  for (int j = 0; j < n; ++j) {
    off[j] = item.block_table[bi] * block_stride + head_off + static_cast<int64_t>(slot) * hd;
    if (++slot == bs) {
      slot = 0;
      ++bi;
    }
  }
  return n;
}

// Points rows[j] at the f32 row of position c0 + j (j < n) of one source: in place when it is
// stored as f32, else decoded into dec (row j at j * hd), one decode call per block.
inline void chunk_rows(const KvRowSource& src, const AttentionItem& item, int64_t c0, int n, int bs,
                       int hd, int64_t head_off, float* dec, const float** rows) {
  if (src.in_place()) {
    int64_t off[kChunk];
    resolve_chunk(item, c0, c0 + n, bs, src.block_stride, head_off, hd, off);
    for (int j = 0; j < n; ++j) rows[j] = src.f32 + off[j];
    return;
  }
  for (int j = 0; j < n;) {
    const int64_t p = c0 + j;
    const int32_t block = item.block_table[p / bs];
    const int slot = static_cast<int>(p % bs);
    const int run = std::min(n - j, bs - slot);
    src.decode(src.ctx, block, item.kv_head, slot, run, p, dec + static_cast<int64_t>(j) * hd);
    j += run;
  }
  for (int j = 0; j < n; ++j) rows[j] = dec + static_cast<int64_t>(j) * hd;
}

// Blocks ahead of the chunk being decoded whose K and V are prefetched. Measured on Zen 5 with a
// 16-token chunk at 3,000 positions: 2 blocks ahead cut the step by 7-9%; 4 and 8 did no better.
constexpr int64_t kPrefetchBlocksAhead = 2;

// Formats that are decoded (not f32 in place): hints the block kPrefetchBlocksAhead blocks after
// chunk c0 to the cache, once per block. Every position's K and V are read once per tile; in a
// short chunk that is once per step, from memory, in blocks scattered over the pool.
inline void prefetch_ahead(const KvLayerView& kv, const AttentionItem& item, int64_t c0,
                           int64_t kv_len, int bs) {
  if (kv.k.prefetch == nullptr || kv.v.prefetch == nullptr) return;
  const int64_t ahead = (c0 / bs + kPrefetchBlocksAhead) * bs;
  if (ahead >= kv_len || c0 % bs >= kChunk) return;  // the first chunk of a block only
  const int32_t block = item.block_table[ahead / bs];
  kv.k.prefetch(kv.k.ctx, block, item.kv_head);
  kv.v.prefetch(kv.v.ctx, block, item.kv_head);
}

// Runtime or compile-time count of 8-float vectors per head (NV == 0: use the runtime value).
template <int NV>
inline int vecs(int nv_rt) {
  return NV ? NV : nv_rt;
}

// Sums each of 8 vectors into one lane of the result: out[k] = sum(a[k]).
inline __m256 reduce8(const __m256 a[8]) {
  const __m256 h01 = _mm256_hadd_ps(a[0], a[1]);
  const __m256 h23 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 h45 = _mm256_hadd_ps(a[4], a[5]);
  const __m256 h67 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 h0123 = _mm256_hadd_ps(h01, h23);  // [k0..k3 of low halves | k0..k3 of high]
  const __m256 h4567 = _mm256_hadd_ps(h45, h67);
  return _mm256_add_ps(_mm256_permute2f128_ps(h0123, h4567, 0x20),
                       _mm256_permute2f128_ps(h0123, h4567, 0x31));
}

// Scores of one (pre-scaled) query row against 8 key rows.
template <int NV>
inline __m256 dot8(const float* q, const float* const* kp, int nv_rt) {
  __m256 acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = _mm256_setzero_ps();
  const int nv = vecs<NV>(nv_rt);
  for (int v = 0; v < nv; ++v) {
    const __m256 qv = _mm256_load_ps(q + 8 * v);
    for (int k = 0; k < 8; ++k)
      acc[k] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kp[k] + 8 * v), acc[k]);
  }
  return reduce8(acc);
}

// Scores of two query rows against 4 key rows: [a·k0..a·k3 | b·k0..b·k3]. Sharing each key load
// between two rows gives 6 loads per 8 FMAs instead of 9: dot8 alone is load-bound.
template <int NV>
inline __m256 dot2x4(const float* qa, const float* qb, const float* const* kp, int nv_rt) {
  __m256 acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = _mm256_setzero_ps();
  const int nv = vecs<NV>(nv_rt);
  for (int v = 0; v < nv; ++v) {
    const __m256 a = _mm256_load_ps(qa + 8 * v);
    const __m256 b = _mm256_load_ps(qb + 8 * v);
    for (int k = 0; k < 4; ++k) {
      const __m256 kv = _mm256_loadu_ps(kp[k] + 8 * v);
      acc[k] = _mm256_fmadd_ps(a, kv, acc[k]);
      acc[4 + k] = _mm256_fmadd_ps(b, kv, acc[4 + k]);
    }
  }
  return reduce8(acc);
}

// o[r] = o[r] * alpha[r] + sum_j p[r][j] * v_j over NR rows (1 or 2) and S vectors of head_dim
// starting at vector v0, for keys j < n.
template <int NR, int S>
inline void pv_slice(float* const* o, const float* const* p, const float* alpha,
                     const float* const* vp, int n, int v0) {
  __m256 acc[NR][S];
  for (int r = 0; r < NR; ++r) {
    for (int s = 0; s < S; ++s) acc[r][s] = _mm256_load_ps(o[r] + 8 * (v0 + s));
    if (alpha[r] != 1.0f) {  // the running max moved: rescale what was accumulated
      const __m256 a = _mm256_set1_ps(alpha[r]);
      for (int s = 0; s < S; ++s) acc[r][s] = _mm256_mul_ps(acc[r][s], a);
    }
  }
  for (int j = 0; j < n; ++j) {
    __m256 vv[S];
    for (int s = 0; s < S; ++s) vv[s] = _mm256_loadu_ps(vp[j] + 8 * (v0 + s));
    for (int r = 0; r < NR; ++r) {
      const __m256 b = _mm256_broadcast_ss(p[r] + j);
      for (int s = 0; s < S; ++s) acc[r][s] = _mm256_fmadd_ps(b, vv[s], acc[r][s]);
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int s = 0; s < S; ++s) _mm256_store_ps(o[r] + 8 * (v0 + s), acc[r][s]);
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

// Transposes 8 rows of 8 floats in registers: out[i][k] = in[k][i].
inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {  // rows 0-3 (i = 0) and rows 4-7 (i = 1)
    const __m256 lo_a = t[4 * i], hi_a = t[4 * i + 1], lo_b = t[4 * i + 2], hi_b = t[4 * i + 3];
    u[4 * i + 0] = _mm256_shuffle_ps(lo_a, lo_b, 0x44);  // column 0 | column 4
    u[4 * i + 1] = _mm256_shuffle_ps(lo_a, lo_b, 0xEE);  // column 1 | column 5
    u[4 * i + 2] = _mm256_shuffle_ps(hi_a, hi_b, 0x44);  // column 2 | column 6
    u[4 * i + 3] = _mm256_shuffle_ps(hi_a, hi_b, 0xEE);  // column 3 | column 7
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
  }
}

// kt[d][j] = key j, dim d for the first `halves` * 8 keys of the chunk.
template <int NV>
inline void transpose_keys(const float* const* kp, int halves, int nv_rt, float (*kt)[kChunk]) {
  const int nv = vecs<NV>(nv_rt);
  for (int h = 0; h < halves; ++h) {
    for (int v = 0; v < nv; ++v) {
      __m256 r[8];
      for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_ps(kp[8 * h + k] + 8 * v);
      transpose8(r);
      for (int i = 0; i < 8; ++i) _mm256_store_ps(kt[8 * v + i] + 8 * h, r[i]);
    }
  }
}

// Scores of NR (<= 6) query rows against the 16 transposed keys: s[r][0..1] = keys 0-7, 8-15.
// Each key vector feeds NR FMAs and each query element is one broadcast, and no horizontal sums
// are needed; the transpose is paid once per chunk for all rows of the tile.
template <int NV, int NR>
inline void scores_kt(const float* const* q, const float (*kt)[kChunk], int hd_rt, __m256 s[][2]) {
  __m256 acc[NR][2];
  for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const int hd = NV ? 8 * NV : hd_rt;
#pragma GCC unroll 8
  for (int d = 0; d < hd; ++d) {
    const __m256 k0 = _mm256_load_ps(kt[d]);
    const __m256 k1 = _mm256_load_ps(kt[d] + 8);
    for (int r = 0; r < NR; ++r) {
      const __m256 b = _mm256_broadcast_ss(q[r] + d);
      acc[r][0] = _mm256_fmadd_ps(b, k0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(b, k1, acc[r][1]);
    }
  }
  for (int r = 0; r < NR; ++r) {
    s[r][0] = acc[r][0];
    s[r][1] = acc[r][1];
  }
}

}  // namespace packinfer::attn_avx2
