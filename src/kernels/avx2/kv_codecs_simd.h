#pragma once
// The KV codecs of the SIMD levels (kernels/kv_codecs.h), written once over a vector width: the
// avx2 level instantiates them with Vec8 (kv_codecs_avx2.cpp), the avx512 level with its own
// 16-lane traits (avx512/kv_codecs_avx512.cpp). A traits type V provides, for W lanes:
//
//   F, I                        float and int32 vectors
//   load(const float*) / store(float*, F)
//   f16(const uint16_t*)        W halves to floats (exact)
//   bf16(const uint16_t*)       W bfloat16 to floats (exact)
//   i8(const uint8_t*)          W int8 to floats
//   u8(const uint8_t*)          W bytes zero-extended to int32
//   codes<Bits>(const uint8_t*) W packed Bits-bit codes (low bits first) to int32 (W*Bits/8 bytes)
//   set(float), mul, add, sub, div, abs, hmin, hmax
//   min(a, b) = a < b ? a : b, max(a, b) = a > b ? a : b  (as minps/maxps)
//   gt(F, F)                    int32 all-ones where a > b
//   bits(F), to_float(I), set_i, add_i, sub_i, and_i, or_i, min_i, max_i, gt_i, select_i(m, a, b),
//   srli<n>, slli<n>, store_i32(int32_t*, I)
//   round_away(F)               round half away from zero (std::lround) to int32
//   trunc_i(F)                  truncate toward zero to int32 (a static_cast<int>)
//   store_f16(uint16_t*, F)     round to nearest even (fp32_to_fp16, NaN payloads aside)
//   store_u16(uint16_t*, I), store_i8(uint8_t*, I), store_u8(uint8_t*, I)  (values in range)
//   dup_pairs<H>(F)             half H of the lanes, each twice ([x0 x0 x1 x1 ...] for H = 0)
//   swap_pairs(F)               [x1 x0 x3 x2 ...]
//   sub_even_add_odd(a, b)      a - b in even lanes, a + b in odd ones (rounded as sub and add)
//
// Every codec does the scalar reference's float operations in the same order (a multiply and an
// add are never fused: CMake compiles the codecs with -ffp-contract=off), so it gives
// the same bytes and the same floats (NaN payloads, and which of two equal values of opposite
// zero sign a horizontal minimum picks, aside). Shapes without a vector path (a head, or a group,
// that is not a multiple of the width) go to the scalar reference. Include only from the folders of
// avx2 and higher levels.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/kv_codecs.h"

namespace packinfer::kv_simd {

enum Format { kF32 = 0, kF16, kBf16, kQ8, kQ4, kKivi4, kKivi2 };

// --- f16, bf16 ------------------------------------------------------------------------------

template <class V>
void f16_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t bs) {
  const auto* in = reinterpret_cast<const uint16_t*>(hb) + static_cast<int64_t>(slot0) * d;
  const int64_t total = static_cast<int64_t>(n) * d;
  int64_t i = 0;
  for (; i + V::W <= total; i += V::W) V::store(dst + i, V::f16(in + i));
  for (; i < total; ++i) dst[i] = fp16_to_fp32(in[i]);
}

template <class V>
void f16_row(const float* src, uint8_t* hb, int32_t slot, int32_t d, int32_t bs) {
  auto* out = reinterpret_cast<uint16_t*>(hb) + static_cast<int64_t>(slot) * d;
  int32_t i = 0;
  for (; i + V::W <= d; i += V::W) V::store_f16(out + i, V::load(src + i));
  for (; i < d; ++i) out[i] = fp32_to_fp16(src[i]);
}

template <class V>
void bf16_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t bs) {
  const auto* in = reinterpret_cast<const uint16_t*>(hb) + static_cast<int64_t>(slot0) * d;
  const int64_t total = static_cast<int64_t>(n) * d;
  int64_t i = 0;
  for (; i + V::W <= total; i += V::W) V::store(dst + i, V::bf16(in + i));
  for (; i < total; ++i) dst[i] = bf16_to_fp32(in[i]);
}

template <class V>
void bf16_row(const float* src, uint8_t* hb, int32_t slot, int32_t d, int32_t bs) {
  if (d % V::W != 0) return kv_value_codec_scalar(kBf16).encode_row(src, hb, slot, d, bs);
  auto* out = reinterpret_cast<uint16_t*>(hb) + static_cast<int64_t>(slot) * d;
  for (int32_t i = 0; i < d; i += V::W) {
    // The scalar to_bf16: NaN keeps its top bits and becomes quiet, the rest round to nearest
    // even.
    const typename V::I x = V::bits(V::load(src + i));
    const typename V::I nan = V::gt_i(V::and_i(x, V::set_i(0x7fffffff)), V::set_i(0x7f800000));
    const typename V::I rounded =
        V::add_i(x, V::add_i(V::set_i(0x7fff), V::and_i(V::template srli<16>(x), V::set_i(1))));
    const typename V::I quiet = V::or_i(V::template srli<16>(x), V::set_i(0x40));
    V::store_u16(out + i, V::select_i(nan, quiet, V::template srli<16>(rounded)));
  }
}

// --- q8_0, q4_0 -----------------------------------------------------------------------------

template <class V>
void q8_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t bs) {
  const int group = kv_group_size(d), q8_bytes = 2 + group;
  if (group % V::W != 0) return kv_value_codec_scalar(kQ8).decode(hb, slot0, n, dst, d, bs);
  hb += static_cast<int64_t>(slot0) * (d / group) * q8_bytes;
  for (int64_t g = 0; g < static_cast<int64_t>(n) * (d / group); ++g, hb += q8_bytes) {
    uint16_t h;
    std::memcpy(&h, hb, 2);
    const typename V::F scale = V::set(fp16_to_fp32(h));
    for (int i = 0; i < group; i += V::W, dst += V::W) {
      V::store(dst, V::mul(scale, V::i8(hb + 2 + i)));
    }
  }
}

template <class V>
void q8_row(const float* src, uint8_t* hb, int32_t slot, int32_t d, int32_t bs) {
  const int group = kv_group_size(d), q8_bytes = 2 + group;
  if (group % V::W != 0) return kv_value_codec_scalar(kQ8).encode_row(src, hb, slot, d, bs);
  uint8_t* out = hb + static_cast<int64_t>(slot) * (d / group) * q8_bytes;
  for (int32_t g = 0; g < d / group; ++g, src += group, out += q8_bytes) {
    typename V::F amax = V::set(0.0f);
    for (int i = 0; i < group; i += V::W) amax = V::max(amax, V::abs(V::load(src + i)));
    const float scale = V::hmax(amax) / 127.0f;
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    const uint16_t h = fp32_to_fp16(scale);
    std::memcpy(out, &h, 2);
    const typename V::F vinv = V::set(inv);
    for (int i = 0; i < group; i += V::W) {
      V::store_i8(out + 2 + i, V::round_away(V::mul(V::load(src + i), vinv)));
    }
  }
}

template <class V>
void q4_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t bs) {
  const int group = kv_group_size(d), half = group / 2, q4_bytes = 2 + half;
  if (half % V::W != 0) return kv_value_codec_scalar(kQ4).decode(hb, slot0, n, dst, d, bs);
  hb += static_cast<int64_t>(slot0) * (d / group) * q4_bytes;
  const typename V::I low = V::set_i(0xf), eight = V::set_i(8);
  for (int64_t g = 0; g < static_cast<int64_t>(n) * (d / group); ++g, hb += q4_bytes) {
    uint16_t h;
    std::memcpy(&h, hb, 2);
    const typename V::F scale = V::set(fp16_to_fp32(h));
    for (int i = 0; i < half; i += V::W) {
      const typename V::I q = V::u8(hb + 2 + i);
      V::store(dst + i, V::mul(scale, V::to_float(V::sub_i(V::and_i(q, low), eight))));
      V::store(dst + i + half, V::mul(scale, V::to_float(V::sub_i(V::template srli<4>(q), eight))));
    }
    dst += group;
  }
}

template <class V>
void q4_row(const float* src, uint8_t* hb, int32_t slot, int32_t d, int32_t bs) {
  const int group = kv_group_size(d), half = group / 2, q4_bytes = 2 + half;
  if (half % V::W != 0) return kv_value_codec_scalar(kQ4).encode_row(src, hb, slot, d, bs);
  uint8_t* out = hb + static_cast<int64_t>(slot) * (d / group) * q4_bytes;
  for (int32_t g = 0; g < d / group; ++g, src += group, out += q4_bytes) {
    // The scalar keeps the first value of the largest magnitude: find that magnitude, then it.
    typename V::F vmax = V::set(0.0f);
    for (int i = 0; i < group; i += V::W) vmax = V::max(vmax, V::abs(V::load(src + i)));
    const float amax = V::hmax(vmax);
    float max = 0;
    if (amax > 0) {
      for (int i = 0; i < group; ++i) {
        if (src[i] == amax || src[i] == -amax) {
          max = src[i];
          break;
        }
      }
    }
    const float scale = max / -8.0f;
    const float inv = scale != 0 ? 1.0f / scale : 0.0f;
    const uint16_t h = fp32_to_fp16(scale);
    std::memcpy(out, &h, 2);
    const typename V::F vinv = V::set(inv), bias = V::set(8.5f);
    const typename V::I top = V::set_i(15);
    auto code = [&](const float* x) {
      return V::min_i(top, V::trunc_i(V::add(V::mul(V::load(x), vinv), bias)));
    };
    for (int i = 0; i < half; i += V::W) {
      V::store_u8(out + 2 + i, V::or_i(code(src + i), V::template slli<4>(code(src + i + half))));
    }
  }
}

// --- KIVI -----------------------------------------------------------------------------------

// Codes of x under (scale, min): lround((x - min) / scale) clamped to [0, 2^Bits - 1], 0 when
// the scale is not positive (the scalar code_of).
template <class V, int Bits>
typename V::I kivi_codes(typename V::F x, typename V::F scale, typename V::F min) {
  const typename V::I q = V::round_away(V::div(V::sub(x, min), scale));
  const typename V::I c = V::min_i(V::set_i((1 << Bits) - 1), V::max_i(V::set_i(0), q));
  return V::and_i(c, V::gt(scale, V::set(0.0f)));
}

// Writes W codes (each < 2^Bits) as W*Bits/8 bytes, low bits first.
template <class V, int Bits>
void pack_codes(uint8_t* dst, typename V::I codes) {
  alignas(64) int32_t c[V::W];
  V::store_i32(c, codes);
  constexpr int per_byte = 8 / Bits;
  for (int b = 0; b < V::W / per_byte; ++b) {
    uint32_t byte = 0;
    for (int j = 0; j < per_byte; ++j)
      byte |= static_cast<uint32_t>(c[b * per_byte + j]) << (j * Bits);
    dst[b] = static_cast<uint8_t>(byte);
  }
}

// The scalar channel_range for channels [c, c + W): their smallest and largest value over the
// bs positions of rows ([bs][d]).
template <class V>
void channel_range(const float* rows, int32_t c, int32_t d, int32_t bs, typename V::F* lo,
                   typename V::F* hi) {
  *lo = *hi = V::load(rows + c);
  for (int32_t p = 1; p < bs; ++p) {
    const typename V::F x = V::load(rows + static_cast<int64_t>(p) * d + c);
    *lo = V::min(x, *lo);  // std::min(lo, x) and std::max(hi, x), signed zeros included
    *hi = V::max(x, *hi);
  }
}

template <class V, int Bits>
void kivi_key_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d,
                     int32_t bs) {
  if (d % V::W != 0) {
    return kv_key_codec_scalar(Bits == 4 ? kKivi4 : kKivi2).decode(hb, slot0, n, dst, d, bs);
  }
  const auto* scales = reinterpret_cast<const uint16_t*>(hb);
  const auto* mins = scales + d;
  const uint8_t* codes = hb + static_cast<int64_t>(d) * 4;
  const int64_t row_bytes = static_cast<int64_t>(d) * Bits / 8;
  for (int32_t c = 0; c < d; c += V::W) {
    const typename V::F scale = V::f16(scales + c), min = V::f16(mins + c);
    const uint8_t* in = codes + static_cast<int64_t>(slot0) * row_bytes + c * Bits / 8;
    for (int32_t p = 0; p < n; ++p, in += row_bytes) {
      const typename V::F q = V::to_float(V::template codes<Bits>(in));
      V::store(dst + static_cast<int64_t>(p) * d + c, V::add(V::mul(q, scale), min));
    }
  }
}

template <class V, int Bits>
void kivi_key_block(const float* rows, uint8_t* hb, int32_t d, int32_t bs) {
  if (d % V::W != 0) {
    return kv_key_codec_scalar(Bits == 4 ? kKivi4 : kKivi2).encode_block(rows, hb, d, bs);
  }
  auto* scales = reinterpret_cast<uint16_t*>(hb);
  auto* mins = scales + d;
  uint8_t* codes = hb + static_cast<int64_t>(d) * 4;
  const int64_t row_bytes = static_cast<int64_t>(d) * Bits / 8;
  const typename V::F levels = V::set(static_cast<float>((1 << Bits) - 1));
  for (int32_t c = 0; c < d; c += V::W) {
    typename V::F lo, hi;
    channel_range<V>(rows, c, d, bs, &lo, &hi);
    // asymmetric(): the minimum and (hi - lo) / levels as f16, then back as the codes use them.
    V::store_f16(mins + c, lo);
    V::store_f16(scales + c, V::div(V::sub(hi, lo), levels));
    const typename V::F scale = V::f16(scales + c), min = V::f16(mins + c);
    for (int32_t p = 0; p < bs; ++p) {
      const typename V::F x = V::load(rows + static_cast<int64_t>(p) * d + c);
      pack_codes<V, Bits>(codes + p * row_bytes + c * Bits / 8, kivi_codes<V, Bits>(x, scale, min));
    }
  }
}

// --- q8_0 keys: per channel over the block (the scalar q8_key_block / q8_key_decode) --------

// A channel's minimum and scale from its int8 bounds, W channels at a time.
template <class V>
void q8_key_channels(const uint8_t* lo_q, const uint8_t* hi_q, typename V::F step,
                     typename V::F* min, typename V::F* scale) {
  const typename V::F lo = V::i8(lo_q), hi = V::i8(hi_q);
  *min = V::mul(lo, step);
  *scale = V::div(V::mul(V::sub(hi, lo), step), V::set(255.0f));
}

template <class V>
void q8_key_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t bs) {
  if (d % V::W != 0) return kv_key_codec_scalar(kQ8).decode(hb, slot0, n, dst, d, bs);
  uint16_t step16;
  std::memcpy(&step16, hb, 2);
  const typename V::F step = V::set(fp16_to_fp32(step16));
  const uint8_t* codes = hb + 2 + 2 * static_cast<int64_t>(d) + static_cast<int64_t>(slot0) * d;
  for (int32_t c = 0; c < d; c += V::W) {
    typename V::F min, scale;
    q8_key_channels<V>(hb + 2 + c, hb + 2 + d + c, step, &min, &scale);
    const uint8_t* in = codes + c;
    for (int32_t p = 0; p < n; ++p, in += d) {
      V::store(dst + static_cast<int64_t>(p) * d + c,
               V::add(V::mul(V::to_float(V::u8(in)), scale), min));
    }
  }
}

template <class V>
void q8_key_block(const float* rows, uint8_t* hb, int32_t d, int32_t bs) {
  if (d % V::W != 0) return kv_key_codec_scalar(kQ8).encode_block(rows, hb, d, bs);
  typename V::F m = V::set(0.0f);
  for (int64_t i = 0; i < static_cast<int64_t>(bs) * d; i += V::W)
    m = V::max(V::abs(V::load(rows + i)), m);  // std::max(amax, |x|): NaN ignored
  const uint16_t step16 = q8_key_step(V::hmax(m));
  std::memcpy(hb, &step16, 2);
  const float step = fp16_to_fp32(step16);
  auto* lo_q = reinterpret_cast<int8_t*>(hb + 2);
  int8_t* hi_q = lo_q + d;
  uint8_t* codes = hb + 2 + 2 * static_cast<int64_t>(d);
  for (int32_t c = 0; c < d; c += V::W) {
    typename V::F lo, hi;
    channel_range<V>(rows, c, d, bs, &lo, &hi);
    alignas(64) float l[V::W], h[V::W];
    V::store(l, lo);
    V::store(h, hi);
    for (int j = 0; j < V::W; ++j) q8_key_bounds(l[j], h[j], step, &lo_q[c + j], &hi_q[c + j]);
    typename V::F min, scale;
    q8_key_channels<V>(hb + 2 + c, hb + 2 + d + c, V::set(step), &min, &scale);
    for (int32_t p = 0; p < bs; ++p) {
      const typename V::F x = V::load(rows + static_cast<int64_t>(p) * d + c);
      V::store_u8(codes + static_cast<int64_t>(p) * d + c, kivi_codes<V, 8>(x, scale, min));
    }
  }
}

template <int Bits>
constexpr int64_t kivi_value_row_bytes(int32_t d) {
  return (d / kv_group_size(d)) * 4 + static_cast<int64_t>(d) * Bits / 8;
}

template <class V, int Bits>
void kivi_value_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d,
                       int32_t bs) {
  const int group = kv_group_size(d);
  if (group % V::W != 0) {
    return kv_value_codec_scalar(Bits == 4 ? kKivi4 : kKivi2).decode(hb, slot0, n, dst, d, bs);
  }
  for (int32_t p = 0; p < n; ++p) {
    const uint8_t* row = hb + (slot0 + p) * kivi_value_row_bytes<Bits>(d);
    const auto* scales = reinterpret_cast<const uint16_t*>(row);
    const auto* mins = scales + d / group;
    const uint8_t* codes = row + (d / group) * 4;
    for (int g = 0; g < d / group; ++g) {
      const typename V::F scale = V::set(fp16_to_fp32(scales[g]));
      const typename V::F min = V::set(fp16_to_fp32(mins[g]));
      for (int c = g * group; c < (g + 1) * group; c += V::W, dst += V::W) {
        const typename V::F q = V::to_float(V::template codes<Bits>(codes + c * Bits / 8));
        V::store(dst, V::add(V::mul(q, scale), min));
      }
    }
  }
}

template <class V, int Bits>
void kivi_value_row(const float* src, uint8_t* hb, int32_t slot, int32_t d, int32_t bs) {
  const int group = kv_group_size(d);
  if (group % V::W != 0) {
    return kv_value_codec_scalar(Bits == 4 ? kKivi4 : kKivi2).encode_row(src, hb, slot, d, bs);
  }
  uint8_t* row = hb + slot * kivi_value_row_bytes<Bits>(d);
  auto* scales = reinterpret_cast<uint16_t*>(row);
  auto* mins = scales + d / group;
  uint8_t* codes = row + (d / group) * 4;
  const float levels = static_cast<float>((1 << Bits) - 1);
  for (int32_t g = 0; g < d / group; ++g) {
    const float* x = src + g * group;
    typename V::F lo = V::load(x), hi = lo;
    for (int i = V::W; i < group; i += V::W) {
      lo = V::min(lo, V::load(x + i));
      hi = V::max(hi, V::load(x + i));
    }
    const float vlo = V::hmin(lo), vhi = V::hmax(hi);
    mins[g] = fp32_to_fp16(vlo);
    scales[g] = fp32_to_fp16((vhi - vlo) / levels);
    const typename V::F scale = V::set(fp16_to_fp32(scales[g]));
    const typename V::F min = V::set(fp16_to_fp32(mins[g]));
    for (int i = 0; i < group; i += V::W) {
      pack_codes<V, Bits>(codes + (g * group + i) * Bits / 8,
                          kivi_codes<V, Bits>(V::load(x + i), scale, min));
    }
  }
}

template <class V, int Bits>
void kivi_value_block(const float* rows, uint8_t* hb, int32_t d, int32_t bs) {
  for (int32_t p = 0; p < bs; ++p)
    kivi_value_row<V, Bits>(rows + static_cast<int64_t>(p) * d, hb, p, d, bs);
}

// --- the rotation of keys stored before RoPE (kv_rotate_rows_scalar, W pairs at a time) -------

// Normal pairs are adjacent: each pair's cos and sin are duplicated ([c0 c0 c1 c1 ...]) so that
// x c -/+ swapped(x) s gives x0 c - x1 s in even lanes and x1 c + x0 s in odd ones, as rope does.
// Heads whose half is not a multiple of W go to Narrower, the next level down.
template <class V, KvRotateRowsFn Narrower>
void rotate_rows(float* rows, int32_t n, int32_t head_dim, const float* block_cos,
                 const float* block_sin, const float* slot_cos, const float* slot_sin, bool neox,
                 float sign) {
  const int32_t half = head_dim / 2;
  if (half % V::W != 0) {
    return Narrower(rows, n, head_dim, block_cos, block_sin, slot_cos, slot_sin, neox, sign);
  }
  const typename V::F sg = V::set(sign);
  for (int32_t r = 0; r < n; ++r, slot_cos += half, slot_sin += half) {
    float* row = rows + static_cast<int64_t>(r) * head_dim;
    for (int32_t i = 0; i < half; i += V::W) {
      const typename V::F bc = V::load(block_cos + i), bs = V::load(block_sin + i);
      const typename V::F sc = V::load(slot_cos + i), ss = V::load(slot_sin + i);
      const typename V::F c = V::sub(V::mul(bc, sc), V::mul(bs, ss));
      const typename V::F s = V::mul(sg, V::add(V::mul(bs, sc), V::mul(bc, ss)));
      if (neox) {
        const typename V::F x = V::load(row + i), y = V::load(row + i + half);
        V::store(row + i, V::sub(V::mul(x, c), V::mul(y, s)));
        V::store(row + i + half, V::add(V::mul(x, s), V::mul(y, c)));
        continue;
      }
      const typename V::F cd[2] = {V::template dup_pairs<0>(c), V::template dup_pairs<1>(c)};
      const typename V::F sd[2] = {V::template dup_pairs<0>(s), V::template dup_pairs<1>(s)};
      for (int j = 0; j < 2; ++j) {
        float* p = row + 2 * i + V::W * j;
        const typename V::F x = V::load(p);
        V::store(p, V::sub_even_add_odd(V::mul(x, cd[j]), V::mul(V::swap_pairs(x), sd[j])));
      }
    }
  }
}

// A per-position format's whole-block encoder: every row in turn.
template <KvEncodeRowFn Row>
void rows_block(const float* rows, uint8_t* hb, int32_t d, int32_t bs) {
  for (int32_t p = 0; p < bs; ++p) Row(rows + static_cast<int64_t>(p) * d, hb, p, d, bs);
}

// The level's tables (kv_codecs.h): f32 keeps the scalar memcpy (decode == nullptr: inherited).
template <class V>
struct Codecs {
  static constexpr KvCodec value[7] = {
      {},
      {f16_row<V>, rows_block<f16_row<V>>, f16_decode<V>},
      {bf16_row<V>, rows_block<bf16_row<V>>, bf16_decode<V>},
      {q8_row<V>, rows_block<q8_row<V>>, q8_decode<V>},
      {q4_row<V>, rows_block<q4_row<V>>, q4_decode<V>},
      {kivi_value_row<V, 4>, kivi_value_block<V, 4>, kivi_value_decode<V, 4>},
      {kivi_value_row<V, 2>, kivi_value_block<V, 2>, kivi_value_decode<V, 2>},
  };
  static constexpr KvCodec key[7] = {
      {},
      value[1],
      value[2],
      {nullptr, q8_key_block<V>, q8_key_decode<V>},
      value[4],
      {nullptr, kivi_key_block<V, 4>, kivi_key_decode<V, 4>},
      {nullptr, kivi_key_block<V, 2>, kivi_key_decode<V, 2>},
  };
};

}  // namespace packinfer::kv_simd
