#include "kv/kv_format.h"

#include <array>

#include "kernels/kv_codecs.h"
#include "packinfer/error.h"

namespace packinfer {
namespace {

constexpr std::array<const char*, kKvTypeCount> kNames = {"f32",  "f16",   "bf16", "q8_0",
                                                          "q4_0", "kivi4", "kivi2"};

int bits_of(KvType t) { return t == KvType::Kivi4 ? 4 : 2; }

bool is_kivi(KvType t) { return t == KvType::Kivi4 || t == KvType::Kivi2; }

}  // namespace

const char* kv_type_name(KvType t) { return kNames.at(static_cast<size_t>(t)); }

std::string kv_type_names() {
  std::string out;
  for (const char* n : kNames) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

KvType parse_kv_type(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (name == kNames[i]) return static_cast<KvType>(i);
  }
  throw InvalidArgument("unknown KV cache type '" + std::string(name) + "' (use one of " +
                        kv_type_names() + ")");
}

bool kv_type_quantizes_keys_per_channel(KvType t) { return t == KvType::Q8_0 || is_kivi(t); }

bool kv_type_is_lossy(KvType t) { return t != KvType::F32; }

bool kv_keys_before_rope(const KvFormat& f) {
  return kv_type_quantizes_keys_per_channel(f.k) && !f.rotate;
}

std::string KvFormat::name() const {
  std::string s =
      k == v ? kv_type_name(k) : std::string("k=") + kv_type_name(k) + " v=" + kv_type_name(v);
  return rotate ? s + " rotated" : s;
}

uint64_t KvFormat::id() const {
  // Layout versions keep blocks cached on disk or in a KV store by an older build from being read
  // as the current layout: q8_0 keys were stored per position until 2026-12 (1: per channel), and
  // keys quantized per channel after RoPE until 2026-12-02 (2: before RoPE).
  const uint64_t layout = kv_keys_before_rope(*this) ? 2 : k == KvType::Q8_0 ? 1 : 0;
  return static_cast<uint64_t>(k) | static_cast<uint64_t>(v) << 8 |
         static_cast<uint64_t>(rotate) << 16 | layout << 24 | uint64_t{0x4b56} << 32;  // "KV"
}

int64_t kv_head_block_bytes(KvType t, bool is_key, int32_t head_dim, int32_t block_size) {
  const int64_t d = head_dim, b = block_size;
  const int64_t group = kv_group_size(head_dim);
  switch (t) {
    case KvType::F32:
      return b * d * 4;
    case KvType::F16:
    case KvType::BF16:
      return b * d * 2;
    case KvType::Q8_0:
      // Keys: an f16 step and two int8 bounds per channel for the block, then a byte per value.
      return is_key ? 2 + 2 * d + b * d : b * (d / group) * (2 + group);
    case KvType::Q4_0:
      return b * (d / group) * (2 + group / 2);
    case KvType::Kivi4:
    case KvType::Kivi2: {
      const int64_t codes = b * d * bits_of(t) / 8;
      // Keys: a scale and a minimum (f16) per channel for the block; values: per position and
      // group of 32 channels.
      return is_key ? codes + d * 4 : codes + b * (d / group) * 4;
    }
  }
  return 0;
}

double kv_bytes_per_position(const KvFormat& f, int32_t head_dim, int32_t block_size) {
  return static_cast<double>(kv_head_block_bytes(f.k, true, head_dim, block_size) +
                             kv_head_block_bytes(f.v, false, head_dim, block_size)) /
         block_size;
}

void check_kv_format(const KvFormat& f, int32_t head_dim, int32_t block_size) {
  for (const bool is_key : {true, false}) {
    const KvType t = is_key ? f.k : f.v;
    // q8_0 keys are grouped per channel, which any head size allows.
    const bool grouped = (t == KvType::Q8_0 && !is_key) || t == KvType::Q4_0 || is_kivi(t);
    if (grouped && head_dim % kv_group_size(head_dim) != 0) {
      throw InvalidArgument(std::string("KV cache type ") + kv_type_name(t) +
                            " quantizes groups of 32 values, but the model's head size is " +
                            std::to_string(head_dim) + " (not a multiple of 32)");
    }
  }
  if (is_kivi(f.k) && (block_size < 8 || block_size % 8 != 0)) {
    throw InvalidArgument(std::string("KV cache type ") + kv_type_name(f.k) +
                          " quantizes keys over the positions of a block, which needs a block "
                          "size that is a multiple of 8 (--kv-block-size is " +
                          std::to_string(block_size) + ")");
  }
  if (f.rotate && (head_dim & (head_dim - 1)) != 0) {
    throw InvalidArgument(
        "--kv-rotate applies a Hadamard transform of the head size, which "
        "must be a power of two (the model's head size is " +
        std::to_string(head_dim) + ")");
  }
}

}  // namespace packinfer
