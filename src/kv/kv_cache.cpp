#include "kv/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <string>

#include "kv/block_hash.h"
#include "packinfer/error.h"

namespace packinfer {

namespace {

// The prefix-cache chain starts from the format and block size, so blocks stored differently
// never match (in RAM, on disk, in a shared store).
uint64_t chain_root(const KvFormat& format, int32_t block_size) {
  const int32_t salt[3] = {static_cast<int32_t>(format.id()),
                           static_cast<int32_t>(format.id() >> 32), block_size};
  return hash_block(kRootBlockHash, salt);
}

}  // namespace

KvCache::KvCache(const KvShape& shape, int32_t n_blocks, int32_t block_size, const KvFormat& format,
                 const KernelTable* kernels)
    : block_size_(block_size),
      storage_(shape, n_blocks, block_size, format,
               kernels != nullptr ? *kernels : active_kernels()),
      pool_(std::max(n_blocks, 0)),
      index_(n_blocks, block_size, chain_root(format, block_size)) {
  // The pool reuses a cached block only after the index has forgotten it.
  pool_.set_evict_hook([this](int32_t block) { index_.erase(block); });
#ifndef NDEBUG
  check_writes_ = true;  // decided here, not in the header, so every unit agrees on the class
#endif
}

KvCache::~KvCache() = default;

bool KvCache::reserve(SequenceKv& seq, int64_t n_tokens) {
  int64_t need = blocks_for(n_tokens, block_size_) - static_cast<int64_t>(seq.blocks.size());
  if (need <= 0) return true;
  if (need > pool_.n_available()) return false;
  for (int64_t i = 0; i < need; ++i) seq.blocks.push_back(pool_.allocate());
  return true;
}

void KvCache::release(SequenceKv& seq) {
  release_claims(seq);  // preempted or finished: nothing more of them is computed here
  // Last block first: cached blocks join the LRU list in this order, so the end of a prefix is
  // evicted before its start (evicting a first block would strand every block after it).
  for (auto it = seq.blocks.rbegin(); it != seq.blocks.rend(); ++it) {
    pool_.release(*it);
    if (pool_.refcount(*it) == 0 && !pool_.registered(*it)) storage_.release_block(*it);
  }
  seq.blocks.clear();
  seq.n_tokens = 0;
}

int64_t KvCache::match_prefix(SequenceKv& seq, std::span<const int32_t> tokens) {
  if (!seq.blocks.empty() || seq.n_tokens != 0) {
    throw Error("match_prefix needs a fresh sequence (it already holds KV)");
  }
  if (tokens.empty()) return 0;
  const int64_t max_blocks = (static_cast<int64_t>(tokens.size()) - 1) / block_size_;
  const std::vector<int32_t> hit = index_.match(tokens, max_blocks);
  for (int32_t b : hit) {
    pool_.retain(b);
    seq.blocks.push_back(b);
    if (store_ && published_[static_cast<size_t>(b)] != store_->epoch() && store_->up()) {
      publish(b);
    }
  }
  if (disk_ && static_cast<int64_t>(hit.size()) < max_blocks) {
    match_from_disk(seq, tokens, max_blocks);
  }
  if (store_ && static_cast<int64_t>(seq.blocks.size()) < max_blocks) {
    match_from_store(seq, tokens, max_blocks);
  }
  seq.n_tokens = static_cast<int64_t>(seq.blocks.size()) * block_size_;
  return seq.n_tokens;
}

void KvCache::match_from_disk(SequenceKv& seq, std::span<const int32_t> tokens,
                              int64_t max_blocks) {
  const std::vector<uint64_t> keys = index_.chain_keys(tokens, max_blocks);
  const auto bs = static_cast<size_t>(block_size_);
  payload_.resize(static_cast<size_t>(payload_bytes()));
  for (size_t k = seq.blocks.size(); k < keys.size(); ++k) {
    if (!disk_->contains(keys[k])) break;
    const int32_t b = pool_.allocate();
    if (b < 0) break;
    const uint64_t parent = k == 0 ? index_.root() : keys[k - 1];
    if (!disk_->load(keys[k], parent, tokens.subspan(k * bs, bs), payload_)) {
      pool_.release(b);
      break;
    }
    storage_.scatter(b, payload_);
    seq.blocks.push_back(b);
    // Indexed again, so the next request with this prefix finds it in RAM.
    for (int32_t added : index_.insert(seq.blocks, tokens.first((k + 1) * bs))) {
      pool_.set_registered(added);
    }
  }
}

void KvCache::match_from_store(SequenceKv& seq, std::span<const int32_t> tokens,
                               int64_t max_blocks) {
  const std::vector<uint64_t> keys = index_.chain_keys(tokens, max_blocks);
  const auto bs = static_cast<size_t>(block_size_);
  store_->fetch(keys, seq.blocks.size(), index_.root(), tokens,
                [&](size_t k, std::span<const uint8_t> payload) {
                  if (k != seq.blocks.size()) return false;
                  const int32_t b = pool_.allocate();
                  if (b < 0) return false;
                  storage_.scatter(b, payload);
                  seq.blocks.push_back(b);
                  published_[static_cast<size_t>(b)] = store_->epoch();  // it is there
                  // Indexed, so the next request with this prefix finds it in RAM.
                  for (int32_t added : index_.insert(seq.blocks, tokens.first((k + 1) * bs))) {
                    pool_.set_registered(added);
                  }
                  return true;
                });
}

PrefixClaim KvCache::claim_missing(SequenceKv& seq, std::span<const int32_t> tokens) {
  if (!store_ || !store_->up() || tokens.empty() || !seq.claimed.empty()) {
    return PrefixClaim::Compute;
  }
  const int64_t max_blocks = (static_cast<int64_t>(tokens.size()) - 1) / block_size_;
  const auto first = seq.blocks.size();
  if (static_cast<int64_t>(first) >= max_blocks) return PrefixClaim::Compute;
  const std::vector<uint64_t> keys = index_.chain_keys(tokens, max_blocks);
  const int64_t taken = store_->claim(std::span<const uint64_t>(keys).subspan(first), seq.claimed);
  if (taken < 0) return PrefixClaim::Wait;
  if (taken > 0) {
    seq.claim_blocks = max_blocks;
    seq.claim_refreshed = std::chrono::steady_clock::now();
    // A server that held the marker until a moment ago published the blocks before giving it
    // back: they are there now.
    match_from_store(seq, tokens, max_blocks);
    seq.n_tokens = static_cast<int64_t>(seq.blocks.size()) * block_size_;
  }
  return PrefixClaim::Compute;
}

void KvCache::release_claims(SequenceKv& seq) {
  if (seq.claimed.empty()) return;
  if (store_) store_->release_claims(seq.claimed);
  seq.claimed.clear();
  seq.claim_blocks = 0;
}

void KvCache::register_blocks(SequenceKv& seq, std::span<const int32_t> tokens) {
  const int64_t known = std::min(seq.n_tokens, static_cast<int64_t>(tokens.size()));
  const int64_t full = std::min(known / block_size_, static_cast<int64_t>(seq.blocks.size()));
  const auto blocks = std::span<const int32_t>(seq.blocks).first(static_cast<size_t>(full));
  for (int32_t b : index_.insert(blocks, tokens.first(static_cast<size_t>(full * block_size_)))) {
    pool_.set_registered(b);
    if (disk_) {
      payload_.resize(static_cast<size_t>(payload_bytes()));
      storage_.gather(b, payload_);
      disk_->store(index_.key_of(b), index_.parent_key_of(b), index_.tokens_of(b), payload_);
    }
    if (store_) publish(b);
  }
  if (!seq.claimed.empty()) {
    const auto now = std::chrono::steady_clock::now();
    if (full >= seq.claim_blocks) {
      release_claims(seq);  // queued behind the blocks just published
    } else if (now - seq.claim_refreshed >
               std::chrono::duration<double>(store_->options().marker_ttl_seconds / 3)) {
      store_->refresh_claims(seq.claimed);
      seq.claim_refreshed = now;
    }
  }
}

uint64_t KvCache::tier_fingerprint(uint64_t model_fingerprint) const {
  // The caller's fingerprint names the model; the cache adds how it stores blocks.
  const uint64_t parts[3] = {model_fingerprint, index_.root(), static_cast<uint64_t>(block_size_)};
  // Hashed as 32-bit words, copied rather than read through an int32_t pointer: that read broke
  // strict aliasing, and once hash_block was inlined here (a unity build) the compiler hashed
  // stack garbage, a different fingerprint per engine.
  int32_t words[2 * std::size(parts)];
  std::memcpy(words, parts, sizeof parts);
  return hash_block(parts[0] ^ parts[1], words);
}

void KvCache::enable_disk_tier(DiskTierOptions options) {
  options.fingerprint = tier_fingerprint(options.fingerprint);
  disk_ = std::make_unique<DiskTier>(options, block_size_, payload_bytes());
}

void KvCache::enable_store(KvStoreOptions options) {
  options.fingerprint = tier_fingerprint(options.fingerprint);
  store_ = std::make_unique<RedisKvStore>(options, block_size_, payload_bytes());
  published_.assign(static_cast<size_t>(pool_.n_total()), 0);
}

void KvCache::publish(int32_t block) {
  payload_.resize(static_cast<size_t>(payload_bytes()));
  storage_.gather(block, payload_);
  const uint32_t epoch = store_->epoch();
  const bool queued = store_->store(index_.key_of(block), index_.parent_key_of(block),
                                    index_.tokens_of(block), payload_);
  published_[static_cast<size_t>(block)] = queued ? epoch : 0;
}

void KvCache::write(int32_t layer, std::span<const int32_t> blocks, int64_t pos, const float* k,
                    const float* v) {
  const size_t index = static_cast<size_t>(pos / block_size_);
  if (index >= blocks.size()) {
    throw Error("KV write at position " + std::to_string(pos) + " beyond the sequence's " +
                std::to_string(blocks.size()) + " blocks");
  }
  const int32_t block = blocks[index];
  if (check_writes_) {
    // The whole copy-on-write story: a registered block may be shared and must stay immutable,
    // and it never needs writing because it lies entirely below the positions a sequence holds.
    if (pool_.registered(block) || pool_.refcount(block) != 1) {
      throw Error("KV write at position " + std::to_string(pos) + " would touch shared KV block " +
                  std::to_string(block));
    }
  }
  storage_.write(layer, block, pos, k, v);
}

bool KvCache::trim_if_idle() {
  if (pool_.n_used() != 0) return false;
  pool_.drop_cached();  // their pages are about to be zeroed
  storage_.trim();
  pool_.forget_touched();
  return true;
}

void KvCache::check_invariants() const {
  pool_.check_invariants();
  index_.check_invariants();
  for (int32_t b = 0; b < pool_.n_total(); ++b) {
    if (pool_.registered(b) != index_.contains(b)) {
      throw Error("KV block " + std::to_string(b) + " is registered in the pool but not the " +
                  "prefix index, or the other way round");
    }
  }
}

}  // namespace packinfer
