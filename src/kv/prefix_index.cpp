#include "kv/prefix_index.h"

#include <algorithm>
#include <cstddef>
#include <string>

#include "kv/block_hash.h"
#include "packinfer/error.h"

namespace packinfer {

PrefixIndex::PrefixIndex(int32_t n_blocks, int32_t block_size, uint64_t root)
    : block_size_(block_size),
      root_(root),
      hash_(static_cast<size_t>(std::max(n_blocks, 0)), 0),
      parent_hash_(hash_.size(), 0),
      serial_(hash_.size(), 0),
      parent_serial_(hash_.size(), 0),
      tokens_(hash_.size() * static_cast<size_t>(std::max(block_size, 0)), 0) {}

uint64_t PrefixIndex::chain(uint64_t parent, std::span<const int32_t> tokens) const {
  return hash_block(parent, tokens) & hash_mask_;
}

std::span<const int32_t> PrefixIndex::stored_tokens(int32_t block) const {
  return std::span<const int32_t>(tokens_).subspan(static_cast<size_t>(block) * block_size_,
                                                   static_cast<size_t>(block_size_));
}

int32_t PrefixIndex::find(uint64_t hash, uint64_t parent_serial,
                          std::span<const int32_t> tokens) const {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return -1;
  const int32_t b = it->second;
  if (parent_serial_[static_cast<size_t>(b)] != parent_serial) return -1;
  const std::span<const int32_t> stored = stored_tokens(b);
  if (!std::equal(stored.begin(), stored.end(), tokens.begin(), tokens.end())) return -1;
  return b;
}

std::vector<int32_t> PrefixIndex::match(std::span<const int32_t> tokens, int64_t max_blocks) const {
  std::vector<int32_t> out;
  const auto bs = static_cast<size_t>(block_size_);
  max_blocks = std::min<int64_t>(max_blocks, static_cast<int64_t>(tokens.size() / bs));
  uint64_t hash = root_;
  uint64_t serial = 0;
  for (int64_t k = 0; k < max_blocks; ++k) {
    const std::span<const int32_t> block_tokens = tokens.subspan(static_cast<size_t>(k) * bs, bs);
    hash = chain(hash, block_tokens);
    const int32_t b = find(hash, serial, block_tokens);
    if (b < 0) break;
    out.push_back(b);
    serial = serial_[static_cast<size_t>(b)];
  }
  return out;
}

std::vector<int32_t> PrefixIndex::insert(std::span<const int32_t> blocks,
                                         std::span<const int32_t> tokens) {
  const auto bs = static_cast<size_t>(block_size_);
  if (tokens.size() != blocks.size() * bs) {
    throw Error("prefix index: " + std::to_string(blocks.size()) + " blocks need " +
                std::to_string(blocks.size() * bs) + " token ids, got " +
                std::to_string(tokens.size()));
  }
  std::vector<int32_t> added;
  uint64_t hash = root_;
  uint64_t serial = 0;
  for (size_t k = 0; k < blocks.size(); ++k) {
    const int32_t b = blocks[k];
    const auto i = static_cast<size_t>(b);
    const std::span<const int32_t> block_tokens = tokens.subspan(k * bs, bs);
    const uint64_t parent_hash = hash;
    hash = chain(hash, block_tokens);
    if (serial_.at(i) != 0) {
      // Registered before (by this sequence or the one it matched): it must hold these tokens.
      const std::span<const int32_t> stored = stored_tokens(b);
      if (hash_[i] != hash || !std::equal(stored.begin(), stored.end(), block_tokens.begin())) {
        throw Error("prefix index: KV block " + std::to_string(b) +
                    " is registered for other tokens than the sequence says it holds");
      }
      // Its parent may have been evicted and the same prefix registered again under a new
      // serial (e.g. this sequence's own copy of a block it first found as a duplicate). The
      // sequence holds this block right after that prefix, so relinking it is exact.
      parent_serial_[i] = serial;
      parent_hash_[i] = parent_hash;
      serial = serial_[i];
      continue;
    }
    auto it = by_hash_.find(hash);
    if (it != by_hash_.end()) {
      const int32_t other = find(hash, serial, block_tokens);
      if (other < 0) break;  // a collision: this and later blocks stay unregistered
      serial = serial_[static_cast<size_t>(other)];  // the same prefix computed twice
      continue;
    }
    hash_[i] = hash;
    parent_hash_[i] = parent_hash;
    serial_[i] = next_serial_++;
    parent_serial_[i] = serial;
    std::copy(block_tokens.begin(), block_tokens.end(),
              tokens_.begin() + static_cast<std::ptrdiff_t>(i * bs));
    by_hash_.emplace(hash, b);
    added.push_back(b);
    serial = serial_[i];
  }
  return added;
}

void PrefixIndex::erase(int32_t block) {
  const auto i = static_cast<size_t>(block);
  if (serial_.at(i) == 0) return;
  auto it = by_hash_.find(hash_[i]);
  if (it != by_hash_.end() && it->second == block) by_hash_.erase(it);
  // Blocks registered after this one in its chain become unreachable (no block will carry this
  // serial again); they stay cached until the pool evicts them like any other.
  serial_[i] = 0;
  parent_serial_[i] = 0;
  hash_[i] = 0;
  parent_hash_[i] = 0;
}

std::vector<uint64_t> PrefixIndex::chain_keys(std::span<const int32_t> tokens,
                                              int64_t max_blocks) const {
  const auto bs = static_cast<size_t>(block_size_);
  max_blocks = std::min<int64_t>(max_blocks, static_cast<int64_t>(tokens.size() / bs));
  std::vector<uint64_t> keys;
  uint64_t hash = root_;
  for (int64_t k = 0; k < max_blocks; ++k) {
    hash = chain(hash, tokens.subspan(static_cast<size_t>(k) * bs, bs));
    keys.push_back(hash);
  }
  return keys;
}

void PrefixIndex::set_hash_bits_for_testing(int bits) {
  if (!by_hash_.empty()) throw Error("prefix index: hash width changed while blocks are indexed");
  hash_mask_ = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
}

void PrefixIndex::check_invariants() const {
  int64_t registered = 0;
  for (size_t i = 0; i < serial_.size(); ++i) {
    if (serial_[i] == 0) continue;
    ++registered;
    auto it = by_hash_.find(hash_[i]);
    if (it == by_hash_.end() || it->second != static_cast<int32_t>(i)) {
      throw Error("prefix index: KV block " + std::to_string(i) + " is registered but unindexed");
    }
  }
  if (registered != size()) {
    throw Error("prefix index: " + std::to_string(size()) + " hashes but " +
                std::to_string(registered) + " registered blocks");
  }
}

}  // namespace packinfer
