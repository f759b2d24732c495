// Scalar reference codecs of the KV formats: the definition every SIMD codec is tested against.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/kv_codecs.h"

namespace packinfer {
namespace {

uint16_t to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // NaN
  x += 0x7fffu + ((x >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(x >> 16);
}

// --- f32, f16, bf16 -----------------------------------------------------------------------------

void f32_row(const float* src, uint8_t* hb, int32_t slot, int32_t d, int32_t) {
  std::memcpy(hb + static_cast<size_t>(slot) * d * 4, src, static_cast<size_t>(d) * 4);
}
void f32_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t) {
  std::memcpy(dst, hb + static_cast<size_t>(slot0) * d * 4, static_cast<size_t>(n) * d * 4);
}
void f16_row(const float* src, uint8_t* hb, int32_t slot, int32_t d, int32_t) {
  auto* out = reinterpret_cast<uint16_t*>(hb) + static_cast<size_t>(slot) * d;
  for (int32_t i = 0; i < d; ++i) out[i] = fp32_to_fp16(src[i]);
}
void f16_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t) {
  const auto* in = reinterpret_cast<const uint16_t*>(hb) + static_cast<size_t>(slot0) * d;
  for (int64_t i = 0; i < static_cast<int64_t>(n) * d; ++i) dst[i] = fp16_to_fp32(in[i]);
}
void bf16_row(const float* src, uint8_t* hb, int32_t slot, int32_t d, int32_t) {
  auto* out = reinterpret_cast<uint16_t*>(hb) + static_cast<size_t>(slot) * d;
  for (int32_t i = 0; i < d; ++i) out[i] = to_bf16(src[i]);
}
void bf16_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t) {
  const auto* in = reinterpret_cast<const uint16_t*>(hb) + static_cast<size_t>(slot0) * d;
  for (int64_t i = 0; i < static_cast<int64_t>(n) * d; ++i) dst[i] = bf16_to_fp32(in[i]);
}

// --- q8_0, q4_0 (ggml's blocks of 32) -------------------------------------------------------

void q8_row(const float* src, uint8_t* hb, int32_t slot, int32_t d, int32_t) {
  const int group = kv_group_size(d), q8_bytes = 2 + group;
  uint8_t* out = hb + static_cast<size_t>(slot) * (d / group) * q8_bytes;
  for (int32_t g = 0; g < d / group; ++g, src += group, out += q8_bytes) {
    float amax = 0;
    for (int i = 0; i < group; ++i) amax = std::max(amax, std::fabs(src[i]));
    const float scale = amax / 127.0f;
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    const uint16_t h = fp32_to_fp16(scale);
    std::memcpy(out, &h, 2);
    for (int i = 0; i < group; ++i) {
      out[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::lround(src[i] * inv)));
    }
  }
}
void q8_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t) {
  const int group = kv_group_size(d), q8_bytes = 2 + group;
  hb += static_cast<size_t>(slot0) * (d / group) * q8_bytes;
  for (int64_t g = 0; g < static_cast<int64_t>(n) * (d / group); ++g, hb += q8_bytes) {
    uint16_t h;
    std::memcpy(&h, hb, 2);
    const float scale = fp16_to_fp32(h);
    for (int i = 0; i < group; ++i) *dst++ = scale * static_cast<int8_t>(hb[2 + i]);
  }
}

void q4_row(const float* src, uint8_t* hb, int32_t slot, int32_t d, int32_t) {
  const int group = kv_group_size(d), q4_bytes = 2 + group / 2;
  uint8_t* out = hb + static_cast<size_t>(slot) * (d / group) * q4_bytes;
  for (int32_t g = 0; g < d / group; ++g, src += group, out += q4_bytes) {
    // ggml: the value of largest magnitude maps to -8 exactly, the rest round into [-8, 7].
    float amax = 0, max = 0;
    for (int i = 0; i < group; ++i) {
      if (std::fabs(src[i]) > amax) {
        amax = std::fabs(src[i]);
        max = src[i];
      }
    }
    const float scale = max / -8.0f;
    const float inv = scale != 0 ? 1.0f / scale : 0.0f;
    const uint16_t h = fp32_to_fp16(scale);
    std::memcpy(out, &h, 2);
    auto code = [&](float x) {
      return static_cast<uint8_t>(std::min(15, static_cast<int>(x * inv + 8.5f)));
    };
    for (int i = 0; i < group / 2; ++i) {
      out[2 + i] = static_cast<uint8_t>(code(src[i]) | code(src[i + group / 2]) << 4);
    }
  }
}
void q4_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t) {
  const int group = kv_group_size(d), q4_bytes = 2 + group / 2;
  hb += static_cast<size_t>(slot0) * (d / group) * q4_bytes;
  for (int64_t g = 0; g < static_cast<int64_t>(n) * (d / group); ++g, hb += q4_bytes) {
    uint16_t h;
    std::memcpy(&h, hb, 2);
    const float scale = fp16_to_fp32(h);
    for (int i = 0; i < group / 2; ++i) {
      dst[i] = scale * static_cast<float>((hb[2 + i] & 0xf) - 8);
      dst[i + group / 2] = scale * static_cast<float>((hb[2 + i] >> 4) - 8);
    }
    dst += group;
  }
}

// --- KIVI: asymmetric min/max codes -----------------------------------------------------------

// Scale and minimum of values in [lo, hi] for `bits`-bit codes, as stored (f16).
void asymmetric(float lo, float hi, int bits, uint16_t* scale, uint16_t* min) {
  const float levels = static_cast<float>((1 << bits) - 1);
  *min = fp32_to_fp16(lo);
  *scale = fp32_to_fp16((hi - lo) / levels);
}
uint32_t code_of(float x, float scale, float min, int bits) {
  const int top = (1 << bits) - 1;
  if (!(scale > 0)) return 0;
  const int q = static_cast<int>(std::lround((x - min) / scale));
  return static_cast<uint32_t>(std::clamp(q, 0, top));
}
void put_code(uint8_t* codes, int64_t index, uint32_t code, int bits) {
  const int64_t bit = index * bits;
  codes[bit / 8] = static_cast<uint8_t>((codes[bit / 8] & ~(((1u << bits) - 1) << (bit % 8))) |
                                        code << (bit % 8));
}
uint32_t get_code(const uint8_t* codes, int64_t index, int bits) {
  const int64_t bit = index * bits;
  return (codes[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
}

// The smallest and largest value of channel c over the b positions of rows ([b][d]): the range
// that q8_0 and KIVI keys quantize.
void channel_range(const float* rows, int32_t c, int32_t d, int32_t b, float* lo, float* hi) {
  *lo = *hi = rows[c];
  for (int32_t p = 1; p < b; ++p) {
    *lo = std::min(*lo, rows[static_cast<size_t>(p) * d + c]);
    *hi = std::max(*hi, rows[static_cast<size_t>(p) * d + c]);
  }
}

// --- q8_0 keys: per channel over the block's positions -----------------------------------------

// Layout (kv_codecs.h): f16 step, int8 lo[d], int8 hi[d], codes [B][d]. A channel's codes cut
// [lo * step, hi * step] into 255 steps.
float q8_key_min(int8_t lo, float step) { return static_cast<float>(lo) * step; }
float q8_key_scale(int8_t lo, int8_t hi, float step) {
  return (static_cast<float>(hi) - static_cast<float>(lo)) * step / 255.0f;
}

void q8_key_block(const float* rows, uint8_t* hb, int32_t d, int32_t b) {
  float amax = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(b) * d; ++i)
    amax = std::max(amax, std::fabs(rows[i]));
  const uint16_t step16 = q8_key_step(amax);
  std::memcpy(hb, &step16, 2);
  const float step = fp16_to_fp32(step16);
  auto* lo_q = reinterpret_cast<int8_t*>(hb + 2);
  int8_t* hi_q = lo_q + d;
  uint8_t* codes = hb + 2 + 2 * static_cast<size_t>(d);
  for (int32_t c = 0; c < d; ++c) {
    float lo, hi;
    channel_range(rows, c, d, b, &lo, &hi);
    q8_key_bounds(lo, hi, step, &lo_q[c], &hi_q[c]);
    const float min = q8_key_min(lo_q[c], step), scale = q8_key_scale(lo_q[c], hi_q[c], step);
    for (int32_t p = 0; p < b; ++p) {
      codes[static_cast<size_t>(p) * d + c] =
          static_cast<uint8_t>(code_of(rows[static_cast<size_t>(p) * d + c], scale, min, 8));
    }
  }
}
void q8_key_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t) {
  uint16_t step16;
  std::memcpy(&step16, hb, 2);
  const float step = fp16_to_fp32(step16);
  const auto* lo_q = reinterpret_cast<const int8_t*>(hb + 2);
  const int8_t* hi_q = lo_q + d;
  const uint8_t* codes = hb + 2 + 2 * static_cast<size_t>(d) + static_cast<size_t>(slot0) * d;
  for (int32_t c = 0; c < d; ++c) {  // a channel's minimum and scale once, then its positions
    const float min = q8_key_min(lo_q[c], step), scale = q8_key_scale(lo_q[c], hi_q[c], step);
    for (int32_t p = 0; p < n; ++p) {
      const size_t i = static_cast<size_t>(p) * d + c;
      dst[i] = static_cast<float>(codes[i]) * scale + min;
    }
  }
}

// Keys: per channel over the block's positions.
template <int Bits>
void kivi_key_block(const float* rows, uint8_t* hb, int32_t d, int32_t b) {
  auto* scales = reinterpret_cast<uint16_t*>(hb);
  auto* mins = scales + d;
  uint8_t* codes = hb + static_cast<size_t>(d) * 4;
  std::memset(codes, 0, static_cast<size_t>(b) * d * Bits / 8);
  for (int32_t c = 0; c < d; ++c) {
    float lo, hi;
    channel_range(rows, c, d, b, &lo, &hi);
    asymmetric(lo, hi, Bits, &scales[c], &mins[c]);
    const float scale = fp16_to_fp32(scales[c]), min = fp16_to_fp32(mins[c]);
    for (int32_t p = 0; p < b; ++p) {
      put_code(codes, static_cast<int64_t>(p) * d + c,
               code_of(rows[static_cast<size_t>(p) * d + c], scale, min, Bits), Bits);
    }
  }
}
template <int Bits>
void kivi_key_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d, int32_t) {
  const auto* scales = reinterpret_cast<const uint16_t*>(hb);
  const auto* mins = scales + d;
  const uint8_t* codes = hb + static_cast<size_t>(d) * 4;
  for (int32_t p = 0; p < n; ++p) {
    for (int32_t c = 0; c < d; ++c) {
      const uint32_t q = get_code(codes, static_cast<int64_t>(slot0 + p) * d + c, Bits);
      dst[static_cast<size_t>(p) * d + c] =
          static_cast<float>(q) * fp16_to_fp32(scales[c]) + fp16_to_fp32(mins[c]);
    }
  }
}

// Values: per position, groups of 32 channels.
template <int Bits>
constexpr int64_t kivi_value_row_bytes(int32_t d) {
  return (d / kv_group_size(d)) * 4 + static_cast<int64_t>(d) * Bits / 8;
}
template <int Bits>
void kivi_value_row(const float* src, uint8_t* hb, int32_t slot, int32_t d, int32_t) {
  const int group = kv_group_size(d);
  uint8_t* row = hb + slot * kivi_value_row_bytes<Bits>(d);
  auto* scales = reinterpret_cast<uint16_t*>(row);
  auto* mins = scales + d / group;
  uint8_t* codes = row + (d / group) * 4;
  std::memset(codes, 0, static_cast<size_t>(d) * Bits / 8);
  for (int32_t g = 0; g < d / group; ++g) {
    const float* x = src + g * group;
    const auto [lo, hi] = std::minmax_element(x, x + group);
    asymmetric(*lo, *hi, Bits, &scales[g], &mins[g]);
    const float scale = fp16_to_fp32(scales[g]), min = fp16_to_fp32(mins[g]);
    for (int i = 0; i < group; ++i)
      put_code(codes, g * group + i, code_of(x[i], scale, min, Bits), Bits);
  }
}
template <int Bits>
void kivi_value_block(const float* rows, uint8_t* hb, int32_t d, int32_t b) {
  for (int32_t p = 0; p < b; ++p)
    kivi_value_row<Bits>(rows + static_cast<size_t>(p) * d, hb, p, d, b);
}
template <int Bits>
void kivi_value_decode(const uint8_t* hb, int32_t slot0, int32_t n, float* dst, int32_t d,
                       int32_t) {
  const int group = kv_group_size(d);
  for (int32_t p = 0; p < n; ++p) {
    const uint8_t* row = hb + (slot0 + p) * kivi_value_row_bytes<Bits>(d);
    const auto* scales = reinterpret_cast<const uint16_t*>(row);
    const auto* mins = scales + d / group;
    const uint8_t* codes = row + (d / group) * 4;
    for (int32_t c = 0; c < d; ++c) {
      const int g = c / group;
      *dst++ = static_cast<float>(get_code(codes, c, Bits)) * fp16_to_fp32(scales[g]) +
               fp16_to_fp32(mins[g]);
    }
  }
}

// A per-position format's whole-block encoder: every row in turn.
template <KvEncodeRowFn Row>
void rows_block(const float* rows, uint8_t* hb, int32_t d, int32_t b) {
  for (int32_t p = 0; p < b; ++p) Row(rows + static_cast<size_t>(p) * d, hb, p, d, b);
}

}  // namespace

uint16_t q8_key_step(float amax) {
  const float step = amax / 127.0f;
  // Keys beyond f16's range (or NaN everywhere) have no step: the block decodes to zeros.
  return step > 0 && step <= 65504.0f ? fp32_to_fp16(step) : uint16_t{0};
}

void q8_key_bounds(float lo, float hi, float step, int8_t* lo_q, int8_t* hi_q) {
  // Within +-127 (and NaN to 0) before converting: the f16 step may be a hair below amax / 127.
  auto to_i8 = [](float v) -> int8_t {
    if (v >= 127.0f) return 127;
    if (v <= -127.0f) return -127;
    return v == v ? static_cast<int8_t>(v) : int8_t{0};
  };
  *lo_q = step > 0 ? to_i8(std::floor(lo / step)) : int8_t{0};
  *hi_q = step > 0 ? to_i8(std::ceil(hi / step)) : int8_t{0};
}

void kv_rotate_rows_scalar(float* rows, int32_t n, int32_t head_dim, const float* block_cos,
                           const float* block_sin, const float* slot_cos, const float* slot_sin,
                           bool neox, float sign) {
  const int32_t half = head_dim / 2, stride = neox ? 1 : 2, partner = neox ? half : 1;
  for (int32_t r = 0; r < n; ++r, slot_cos += half, slot_sin += half) {
    float* row = rows + static_cast<int64_t>(r) * head_dim;
    for (int32_t i = 0; i < half; ++i) {
      // cos and sin of (block angle + slot angle)
      const float c = block_cos[i] * slot_cos[i] - block_sin[i] * slot_sin[i];
      const float s = sign * (block_sin[i] * slot_cos[i] + block_cos[i] * slot_sin[i]);
      float* a = row + i * stride;
      float* b = a + partner;
      const float x = *a, y = *b;
      *a = x * c - y * s;
      *b = x * s + y * c;
    }
  }
}

const KvCodec& kv_value_codec_scalar(int kv_type) {
  static const std::array<KvCodec, 7> codecs = {{
      {f32_row, rows_block<f32_row>, f32_decode},
      {f16_row, rows_block<f16_row>, f16_decode},
      {bf16_row, rows_block<bf16_row>, bf16_decode},
      {q8_row, rows_block<q8_row>, q8_decode},
      {q4_row, rows_block<q4_row>, q4_decode},
      {kivi_value_row<4>, kivi_value_block<4>, kivi_value_decode<4>},
      {kivi_value_row<2>, kivi_value_block<2>, kivi_value_decode<2>},
  }};
  return codecs.at(static_cast<size_t>(kv_type));
}

const KvCodec& kv_key_codec_scalar(int kv_type) {
  static const KvCodec q8_keys = {nullptr, q8_key_block, q8_key_decode};
  if (kv_type == 3) return q8_keys;
  static const std::array<KvCodec, 2> kivi = {{
      {nullptr, kivi_key_block<4>, kivi_key_decode<4>},
      {nullptr, kivi_key_block<2>, kivi_key_decode<2>},
  }};
  if (kv_type >= 5) return kivi.at(static_cast<size_t>(kv_type - 5));
  return kv_value_codec_scalar(kv_type);  // the per-position formats store keys like values
}

}  // namespace packinfer
