#pragma once
// How the KV cache stores keys and values: one format for keys and one for values, chosen per
// engine (--kv-type, --kv-type-k, --kv-type-v). Everything that depends on the element type of
// a KV block goes through here: its size, whether a model can use it, its name in messages and
// in the prefix-cache fingerprint. The codecs that turn f32 rows into a format and back live
// with the kernels (kernels/kv_codecs.h), per instruction-set level.
//
//   format  stored per position and KV head (d = head_dim, B = block size)       group
//   f32     d floats                                                         -
//   f16     d IEEE halves                                                    -
//   bf16    d bfloat16                                                       -
//   q8_0    values: d/32 x (f16 scale + 32 int8) = 34 bytes per 32 values     32 values*
//           keys: per channel over the B positions of a block, 8-bit codes between two int8
//           bounds in units of the block's f16 step (asymmetric, two levels): d + (2 + 2d) / B
//           bytes per position, 2 bytes per block more than ggml's blocks at B = 32. Keys, not
//           values, carry outlier channels (KIVI): ggml's per-position blocks of keys cost about
//           12x the KL divergence on stories260K (bench/RESULTS.md). Kept in f16 until the block
//           is full, as kivi keys, and stored without their rotary embedding (kv/key_rope.h).
//   q4_0    d/32 x (f16 scale + 16 bytes of 4-bit) = 18 bytes per 32 values  32 values*
//   kivi4   keys: per channel over the B positions of a block, 4-bit codes with an f16 scale and
//           minimum each (asymmetric), before RoPE as q8_0 keys; values: per position, groups of 32
//           channels, 4-bit with an f16 scale and minimum. The block being filled is kept in f16
//           and quantized when full.
//   kivi2   the same with 2-bit codes.
// * groups are the whole head when it has fewer than 32 values (kernels/kv_codecs.h).
#include <cstdint>
#include <string>
#include <string_view>

namespace packinfer {

enum class KvType : uint8_t { F32 = 0, F16, BF16, Q8_0, Q4_0, Kivi4, Kivi2 };
inline constexpr int kKvTypeCount = 7;

// "f32", "f16", ...
const char* kv_type_name(KvType t);
// Throws InvalidArgument listing every format for an unknown name.
KvType parse_kv_type(std::string_view name);
// "f32, f16, bf16, q8_0, q4_0, kivi4, kivi2"
std::string kv_type_names();

// Keys per channel over a whole block (q8_0, KIVI): a block's keys are only final when it is full.
bool kv_type_quantizes_keys_per_channel(KvType t);
bool kv_type_is_lossy(KvType t);  // anything but f32 (f16/bf16 round; the rest quantize)

struct KvFormat {
  KvType k = KvType::F16;
  KvType v = KvType::F16;
  bool rotate = false;  // Hadamard rotation of keys and values before storing (low-bit formats)

  bool operator==(const KvFormat&) const = default;
  // "f16", or "k=q8_0 v=f16", plus " rotated".
  std::string name() const;
  // Distinguishes formats in prefix-cache keys and disk fingerprints.
  uint64_t id() const;
};

// Keys quantized per channel are stored before their rotary embedding (kv/key_rope.h), unless the
// format rotates them by a Hadamard matrix, which mixes the channels RoPE turns in pairs.
bool kv_keys_before_rope(const KvFormat& f);

// Bytes of one block of `block_size` positions for one KV head, for keys (is_key) or values.
int64_t kv_head_block_bytes(KvType t, bool is_key, int32_t head_dim, int32_t block_size);
// Average bytes per position of one KV head, keys plus values (what the README tabulates).
double kv_bytes_per_position(const KvFormat& f, int32_t head_dim, int32_t block_size);

// Throws InvalidArgument naming the format and the model's value when a format cannot store
// this shape (e.g. q8_0 needs head_dim to be a multiple of 32; rotation a power of two).
void check_kv_format(const KvFormat& f, int32_t head_dim, int32_t block_size);

}  // namespace packinfer
