#pragma once
// The hash chain that names a full KV block by everything before it: the key of block k is
// hash_block(key of block k-1, token ids of block k), starting from kRootBlockHash. Equal keys
// mean (with overwhelming probability) an equal token prefix, and the same prefix always gives
// the same KV because a block's positions are fixed by its index in the chain.
#include <cstdint>
#include <span>

namespace packinfer {

// The key before the first block (digits of pi: an arbitrary constant with nothing to hide).
inline constexpr uint64_t kRootBlockHash = 0x243F6A8885A308D3ull;

// A well-mixed 64-bit hash of `parent` and `tokens` (every input bit affects every output bit).
uint64_t hash_block(uint64_t parent, std::span<const int32_t> tokens);

}  // namespace packinfer
