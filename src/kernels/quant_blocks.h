#pragma once
// Block layouts of the quantized ggml weight types packinfer computes with. They match llama.cpp's
// ggml-common.h byte for byte (GGUF tensor data is an array of these), so every field order and
// size here is part of the file format. All scales are IEEE half precision stored as raw bits.
#include <cstdint>

namespace packinfer {

inline constexpr int kQK8_0 = 32;
inline constexpr int kQK4_0 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK_K = 256;  // super-block size of the K-quants

// 32 weights: w = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};

// 32 weights: byte j holds element j (low nibble) and element j + 16 (high nibble);
// w = (nibble - 8) * d.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];
};

// 32 weights: qs as in Q4_0 (low 4 bits), bit j of qh (little-endian 32 bits) is the fifth bit
// of element j; w = (q - 16) * d.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK5_0 / 2];
};

// 256 weights in 16 sub-blocks of 16. scales[i]: low nibble = scale, high nibble = min of
// sub-block i; w = d * scale * q - dmin * min with q a 2-bit value. qs is laid out in two halves
// of 128 weights: in half h, byte l (0..31) holds, at bit shift 2*s, weight h*128 + s*32 + l.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};

// 256 weights in 8 sub-blocks of 32 with 6-bit scales and mins packed into 12 bytes (see
// k4_scale_min). qs: for each pair of sub-blocks (2p, 2p+1), 32 bytes whose low nibbles are
// sub-block 2p and high nibbles sub-block 2p+1; w = d * scale * q - dmin * min.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};

// As Q4_K plus a fifth bit: bit 2p of qh[l] is the high bit of weight 64p + l, bit 2p+1 that
// of weight 64p + 32 + l.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// 256 weights in 16 sub-blocks of 16 with signed 8-bit scales; w = d * scale * (q - 32) with q a
// 6-bit value: low 4 bits in ql, high 2 bits in qh. In half h (128 weights), for l in 0..31:
// weight +l     = ql[64h+l]    low nibble, qh[32h+l] bits 0-1
// weight +32+l  = ql[64h+32+l] low nibble, qh[32h+l] bits 2-3
// weight +64+l  = ql[64h+l]    high nibble, qh[32h+l] bits 4-5
// weight +96+l  = ql[64h+32+l] high nibble, qh[32h+l] bits 6-7
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

// Activations (the f32 vector x of a GEMV) quantized once to int8 for the integer dot path (see
// TypeKernels::quantize_act). Not a file format: scales are float for accuracy.
// For Q8_0, Q4_0 and Q5_0 weights: blocks of 32 matching the weight blocks; x ~= d * qs[i].
struct ActQ8_0 {
  float d;
  int8_t qs[32];
};
// For Q4_0 weights: as ActQ8_0 plus 8 * the sums of each run of 4 qs, so the kernel can multiply
// the unsigned nibbles directly and subtract the offset of 8 afterwards, lane by lane.
struct ActQ8_0S {
  float d;
  int8_t qs[32];
  int32_t sum8[8];
};
// For the K-quants: super-blocks of 256 with the sum of each run of 16 qs, so the weight mins
// (and Q6_K's offset of 32) can be applied per sub-block without touching qs again.
struct ActQ8K {
  float d;
  int16_t bsums[16];
  int8_t qs[kQK_K];
};

static_assert(sizeof(ActQ8_0) == 36);
static_assert(sizeof(ActQ8_0S) == 68);
static_assert(sizeof(ActQ8K) == 292);

// Scale and min (6 bits each) of sub-block j (0..7) of a Q4_K/Q5_K block. Sub-blocks 0-3 keep
// theirs in the low 6 bits of bytes j and j+4; sub-blocks 4-7 have their low 4 bits in the
// nibbles of byte j+4 and their top 2 bits in the spare top bits of bytes j-4 and j.
inline void k4_scale_min(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace packinfer
