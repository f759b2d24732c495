#include "kv/block_hash.h"

namespace packinfer {
namespace {

constexpr uint64_t kOdd1 = 0x9E3779B97F4A7C15ull;  // 2^64 / golden ratio
constexpr uint64_t kOdd2 = 0xD6E8FEB86659FD93ull;
constexpr uint64_t kOdd3 = 0xA0761D6478BD642Full;

constexpr uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// Final avalanche: xor-shifts fold high bits into low ones, odd multiplies spread low bits up.
constexpr uint64_t avalanche(uint64_t x) {
  x ^= x >> 32;
  x *= kOdd2;
  x ^= x >> 29;
  x *= kOdd3;
  x ^= x >> 32;
  return x;
}

}  // namespace

uint64_t hash_block(uint64_t parent, std::span<const int32_t> tokens) {
  // Each step is a bijection of the state (xor, rotate, multiply by an odd constant), so no two
  // token values collide within a step; the length is mixed in so prefixes differ from blocks.
  uint64_t h = avalanche(parent ^ kOdd1);
  for (int32_t t : tokens) {
    h ^= static_cast<uint64_t>(static_cast<uint32_t>(t)) * kOdd1;
    h = rotl(h, 27) * kOdd2 + kOdd3;
  }
  return avalanche(h ^ static_cast<uint64_t>(tokens.size()));
}

}  // namespace packinfer
