#pragma once
// Codecs of the KV cache formats (kv/kv_format.h): f32 rows of one KV head into a block of a
// format and back. One block of one KV head ("head block") holds `block_size` positions of
// `head_dim` values; its layout per format:
//   f32, f16, bf16   [B][d] elements
//   q8_0 values      [B][d/G] x {f16 scale, int8 q[G]}                (ggml's block_q8_0)
//   q8_0 keys        f16 step, int8 lo[d], int8 hi[d], then codes uint8 [B][d]      (per channel)
//   q4_0             [B][d/G] x {f16 scale, uint8 q[G/2]}             (ggml's block_q4_0)
//   kivi keys        f16 scale[d], f16 min[d], then codes [B][d*bits/8]   (per channel)
//   kivi values      [B] x {f16 scale[d/G], f16 min[d/G], codes[d*bits/8]} (per position)
// with groups of G = kv_group_size(d) values: 32 as in ggml, or the whole head when it is
// smaller (a model with 8-value heads quantizes groups of 8).
// Codes are unsigned, low bits first within a byte: value = code * scale + min (kivi), or
// (code - 8) * scale (q4_0: low nibbles hold the first half of a group, high nibbles the second).
// q8_0 keys are quantized per channel over the block's positions, in two levels: the block's
// step is its largest magnitude / 127 (f16), and each channel's range is [lo, hi] steps (lo
// rounded down, hi up), cut into 255 levels: value = code * ((hi - lo) * step / 255) + lo * step.
// That costs 2 + 2d bytes per head block, so at B = 32 the same bytes per value as ggml's
// q8_0, and the error follows each channel's range instead of each position's largest value.
// Raw pointers only (see matmul_internal.h on SIMD translation units).
#include <cstdint>

namespace packinfer {

// Stores one position (head_dim floats) at `slot` of a head block of a per-position format.
using KvEncodeRowFn = void (*)(const float* src, uint8_t* head_block, int32_t slot,
                               int32_t head_dim, int32_t block_size);
// Stores a whole head block from block_size rows ([B][d]) — how KIVI keys are quantized, per
// channel over the block, once it is full.
using KvEncodeBlockFn = void (*)(const float* rows, uint8_t* head_block, int32_t head_dim,
                                 int32_t block_size);
// Reads positions [slot0, slot0 + n) of a head block as f32 rows [n][d] into dst.
using KvDecodeFn = void (*)(const uint8_t* head_block, int32_t slot0, int32_t n, float* dst,
                            int32_t head_dim, int32_t block_size);

// q8_0 keys' two levels, shared by every level's codec so that they store the same bytes: the
// block's f16 step for its largest magnitude, and a channel's bounds [lo, hi] in steps.
uint16_t q8_key_step(float amax);
void q8_key_bounds(float lo, float hi, float step, int8_t* lo_q, int8_t* hi_q);

// Turns n rows [n][head_dim] of one head by the rotary angles of their positions: row r by the sum
// of its block's angles (block_cos/sin, [head_dim/2]) and its offset's in the block (slot_cos/sin,
// row r at r * head_dim/2), so that no table needs one row per position; sign -1 turns them back.
// Pairs are (2i, 2i+1), or (i, i + head_dim/2) when neox. How keys quantized per channel are
// stored before RoPE (kv/key_rope.h). Every level computes the same floats (no FMA).
using KvRotateRowsFn = void (*)(float* rows, int32_t n, int32_t head_dim, const float* block_cos,
                                const float* block_sin, const float* slot_cos,
                                const float* slot_sin, bool neox, float sign);
void kv_rotate_rows_scalar(float* rows, int32_t n, int32_t head_dim, const float* block_cos,
                           const float* block_sin, const float* slot_cos, const float* slot_sin,
                           bool neox, float sign);
void kv_rotate_rows_avx2(float* rows, int32_t n, int32_t head_dim, const float* block_cos,
                         const float* block_sin, const float* slot_cos, const float* slot_sin,
                         bool neox, float sign);
void kv_rotate_rows_avx512(float* rows, int32_t n, int32_t head_dim, const float* block_cos,
                           const float* block_sin, const float* slot_cos, const float* slot_sin,
                           bool neox, float sign);

// Values per quantization group for heads of head_dim values.
constexpr int32_t kv_group_size(int32_t head_dim) { return head_dim < 32 ? head_dim : 32; }

struct KvCodec {
  KvEncodeRowFn encode_row = nullptr;      // nullptr: keys quantized per block (encode_block)
  KvEncodeBlockFn encode_block = nullptr;  // every format has one
  KvDecodeFn decode = nullptr;
};

// Scalar references, indexed by the KvType value (f32, f16, bf16, q8_0, q4_0, kivi4, kivi2), for
// keys (per channel for q8_0 and KIVI) and values (per position).
const KvCodec& kv_key_codec_scalar(int kv_type);
const KvCodec& kv_value_codec_scalar(int kv_type);

// The SIMD levels' codecs, indexed like the scalar ones; an entry without decode keeps the lower
// level's (f32 is a memcpy everywhere). Constant data defined in src/kernels/<level>/, so the
// table code, compiled for the baseline ISA, may copy it on any machine; the functions it points
// to run only once the level is known to run. Decoding the same bytes gives the same floats as the
// scalar reference, and so does encoding (same operations in the same order; NaN payloads aside).
// Shapes a SIMD codec has no vector path for (a head size, or a quantization group, that is not a
// multiple of 8) go to the scalar reference.
extern const KvCodec kv_key_codecs_avx2[7];
extern const KvCodec kv_value_codecs_avx2[7];
extern const KvCodec kv_key_codecs_avx512[7];
extern const KvCodec kv_value_codecs_avx512[7];

}  // namespace packinfer
