// Automatic prefix caching: exact block accounting (used + cached + free == total) through
// random operations, LRU eviction order, hits that return the very KV that was written, hash
// collisions that can only cause misses, and on a real model a prompt that reuses a cached
// prefix gets the same logits as when run from scratch, without ever writing a shared block.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "kv/block_hash.h"
#include "kv/kv_cache.h"
#include "packinfer/error.h"
#include "support/test_model.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

std::string stories() { return shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }

// A KV cache of 1 layer, 1 KV head of dimension 2: enough to store a recognisable value per
// position without a model.
KvShape tiny_config() { return KvShape{.n_layer = 1, .n_kv_heads = 1, .head_dim = 2}; }

// The "KV" written for position p of a sequence: a function of tokens[0..p], so a block holds
// the right values only if it was computed for exactly this prefix. Kept below 2^24 (exact f32).
float prefix_value(std::span<const int32_t> tokens, int64_t pos) {
  uint64_t h = hash_block(kRootBlockHash, tokens.first(static_cast<size_t>(pos + 1)));
  return static_cast<float>(h & 0xFFFFFF);
}

void write_positions(KvCache& kv, SequenceKv& seq, std::span<const int32_t> tokens, int64_t n) {
  for (int64_t p = seq.n_tokens; p < seq.n_tokens + n; ++p) {
    const float k[2] = {prefix_value(tokens, p), static_cast<float>(p)};
    const float v[2] = {-prefix_value(tokens, p), static_cast<float>(tokens[p])};
    kv.write(0, seq.blocks, p, k, v);
  }
  seq.n_tokens += n;
}

// Checks every position below seq.n_tokens holds the values written for `tokens`.
void expect_contents(const KvCache& kv, const SequenceKv& seq, std::span<const int32_t> tokens) {
  const KvLayerView view = kv.layer_view(0);
  for (int64_t p = 0; p < seq.n_tokens; ++p) {
    const int32_t b = seq.blocks[static_cast<size_t>(p / kv.block_size())];
    const int64_t off = b * view.k.block_stride + (p % kv.block_size()) * 2;
    ASSERT_EQ(view.k.f32[off], prefix_value(tokens, p)) << "position " << p;
    ASSERT_EQ(view.k.f32[off + 1], static_cast<float>(p));
    ASSERT_EQ(view.v.f32[off], -prefix_value(tokens, p));
    ASSERT_EQ(view.v.f32[off + 1], static_cast<float>(tokens[p]));
  }
}

TEST(BlockPool, CachedBlocksFollowLruAndFreeBlocksGoFirst) {
  BlockPool pool(4);
  std::vector<int32_t> evicted;
  pool.set_evict_hook([&](int32_t b) { evicted.push_back(b); });
  const int32_t a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
  for (int32_t x : {a, b, c}) pool.set_registered(x);
  pool.release(b);
  pool.release(a);
  pool.release(c);
  pool.check_invariants();
  EXPECT_EQ(pool.cached_lru(), (std::vector<int32_t>{b, a, c}));
  EXPECT_EQ(pool.n_cached(), 3);
  EXPECT_EQ(pool.n_free(), 1);
  EXPECT_EQ(pool.n_used(), 0);

  pool.retain(a);  // a prefix hit: a is used again, out of the LRU list
  EXPECT_EQ(pool.cached_lru(), (std::vector<int32_t>{b, c}));
  pool.release(a);  // ... and back as the most recently used
  EXPECT_EQ(pool.cached_lru(), (std::vector<int32_t>{b, c, a}));

  const int32_t d = pool.allocate();  // the free block first: nothing evicted
  EXPECT_NE(d, a);
  EXPECT_NE(d, b);
  EXPECT_NE(d, c);
  EXPECT_TRUE(evicted.empty());
  EXPECT_EQ(pool.allocate(), b);  // then the least recently used cached block
  EXPECT_EQ(pool.allocate(), c);
  EXPECT_EQ(evicted, (std::vector<int32_t>{b, c}));
  EXPECT_FALSE(pool.registered(b));
  pool.release(b);  // evicted, so no longer registered: straight to free
  EXPECT_EQ(pool.n_free(), 1);
  EXPECT_EQ(pool.n_cached(), 1);
  pool.check_invariants();
  EXPECT_EQ(pool.allocate(), b);
  EXPECT_EQ(pool.allocate(), a);
  EXPECT_EQ(pool.allocate(), -1);
  pool.check_invariants();
}

TEST(BlockPool, RetainOfFreeBlockThrows) {
  BlockPool pool(2);
  EXPECT_THROW(pool.retain(0), Error);
  const int32_t a = pool.allocate();
  pool.release(a);
  EXPECT_THROW(pool.release(a), Error);
  pool.check_invariants();
}

// Matching works per full block and never the whole prompt; released blocks are cached, and
// eviction takes the end of a prefix before its start.
TEST(KvCachePrefix, MatchRegisterReleaseAndLruEviction) {
  KvCache kv(tiny_config(), 6, 4);
  kv.set_check_writes(true);
  std::vector<int32_t> p1 = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  SequenceKv s1;
  ASSERT_TRUE(kv.reserve(s1, 9));
  write_positions(kv, s1, p1, 9);
  kv.register_blocks(s1, p1);
  EXPECT_EQ(kv.prefix_index().size(), 2);  // the third block is not full
  kv.check_invariants();

  // While s1 still runs, a prompt with the same 8 tokens shares its two blocks.
  SequenceKv s2;
  std::vector<int32_t> p2 = {1, 2, 3, 4, 5, 6, 7, 8, 42, 43};
  EXPECT_EQ(kv.match_prefix(s2, p2), 8);
  EXPECT_EQ(s2.blocks, (std::vector<int32_t>{s1.blocks[0], s1.blocks[1]}));
  EXPECT_EQ(kv.pool().refcount(s1.blocks[0]), 2);
  expect_contents(kv, s2, p2);
  // A prompt equal to the cached prefix keeps its last token to compute: one block only.
  SequenceKv s3;
  EXPECT_EQ(kv.match_prefix(s3, std::span<const int32_t>(p1).first(8)), 4);
  EXPECT_THROW(kv.match_prefix(s3, p1), Error);  // not fresh
  // Prompts shorter than a block plus one token cannot hit.
  SequenceKv s4;
  EXPECT_EQ(kv.match_prefix(s4, std::span<const int32_t>(p1).first(4)), 0);
  const std::vector<int32_t> s1_blocks = s1.blocks;
  kv.release(s2);
  kv.release(s3);
  kv.release(s1);
  kv.check_invariants();
  EXPECT_EQ(kv.pool().n_cached(), 2);
  EXPECT_EQ(kv.pool().n_used(), 0);
  // Released last block first: the second block is evicted before the first.
  EXPECT_EQ(kv.pool().cached_lru(), (std::vector<int32_t>{s1_blocks[1], s1_blocks[0]}));

  // Fill the free blocks, then one more evicts the LRU cached block (p1's second block).
  SequenceKv filler;
  ASSERT_TRUE(kv.reserve(filler, 4 * kv.pool().n_free()));
  EXPECT_EQ(kv.pool().n_cached(), 2);
  ASSERT_TRUE(kv.reserve(filler, filler.blocks.size() * 4 + 4));
  EXPECT_EQ(kv.pool().n_cached(), 1);
  kv.check_invariants();
  SequenceKv s5;
  EXPECT_EQ(kv.match_prefix(s5, p1), 4);  // the first block survived
  expect_contents(kv, s5, p1);
  kv.release(s5);
  ASSERT_TRUE(kv.reserve(filler, filler.blocks.size() * 4 + 4));
  EXPECT_FALSE(kv.reserve(filler, filler.blocks.size() * 4 + 4));  // all used: all-or-nothing
  SequenceKv s6;
  EXPECT_EQ(kv.match_prefix(s6, p1), 0);
  kv.release(filler);
  kv.check_invariants();
  EXPECT_EQ(kv.pool().n_free(), 6);
}

// Two sequences computed the same prefix at once: the second's copies stay unregistered and its
// later blocks chain onto the first's. Once the first's blocks are evicted, registering the
// second again indexes its own copies and relinks its later blocks, so its whole prompt hits.
TEST(KvCachePrefix, DuplicatePrefixIsReindexedAfterEviction) {
  KvCache kv(tiny_config(), 8, 4);
  kv.set_check_writes(true);
  const std::vector<int32_t> pa = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<int32_t> pb = {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 2};
  SequenceKv a, b;
  ASSERT_TRUE(kv.reserve(a, 9));
  ASSERT_TRUE(kv.reserve(b, 13));
  write_positions(kv, a, pa, 9);
  write_positions(kv, b, pb, 13);
  kv.register_blocks(a, pa);
  kv.register_blocks(b, pb);
  EXPECT_EQ(kv.prefix_index().size(), 3);  // a's two blocks and b's third
  EXPECT_FALSE(kv.pool().registered(b.blocks[0]));
  kv.release(a);
  SequenceKv filler;  // 8 blocks: b holds 4, the filler takes 2 free and evicts a's 2
  ASSERT_TRUE(kv.reserve(filler, 16));
  EXPECT_EQ(kv.pool().n_cached(), 0);
  kv.check_invariants();
  SequenceKv c;
  EXPECT_EQ(kv.match_prefix(c, pb), 0);  // b's third block is unreachable for now
  kv.register_blocks(b, pb);
  kv.check_invariants();
  EXPECT_EQ(kv.match_prefix(c, pb), 12);
  EXPECT_EQ(c.blocks, (std::vector<int32_t>{b.blocks[0], b.blocks[1], b.blocks[2]}));
  expect_contents(kv, c, pb);
  kv.release(c);
  kv.release(b);
  kv.release(filler);
  kv.check_invariants();
}

TEST(KvCachePrefix, TrimForgetsCachedBlocks) {
  KvCache kv(tiny_config(), 4, 4);
  std::vector<int32_t> p = {1, 2, 3, 4, 5};
  SequenceKv s;
  ASSERT_TRUE(kv.reserve(s, 5));
  write_positions(kv, s, p, 5);
  kv.register_blocks(s, p);
  EXPECT_FALSE(kv.trim_if_idle());
  kv.release(s);
  EXPECT_EQ(kv.pool().n_cached(), 1);
  EXPECT_TRUE(kv.trim_if_idle());  // the pages are zeroed: the cache must not claim them
  EXPECT_EQ(kv.pool().n_cached(), 0);
  EXPECT_EQ(kv.prefix_index().size(), 0);
  kv.check_invariants();
  EXPECT_EQ(kv.match_prefix(s, p), 0);
}

// Writes below n_tokens or into a registered/shared block are refused when checking is on.
TEST(KvCachePrefix, WritesNeverTouchSharedBlocks) {
  KvCache kv(tiny_config(), 4, 4);
  kv.set_check_writes(true);
  std::vector<int32_t> p = {1, 2, 3, 4, 5, 6};
  SequenceKv a;
  ASSERT_TRUE(kv.reserve(a, 6));
  write_positions(kv, a, p, 5);
  kv.register_blocks(a, p);
  const float x[2] = {0, 0};
  EXPECT_THROW(kv.write(0, a.blocks, 2, x, x), Error);  // below n_tokens, in a registered block
  SequenceKv b;
  ASSERT_EQ(kv.match_prefix(b, p), 4);
  ASSERT_TRUE(kv.reserve(b, 6));
  SequenceKv b_lying = b;  // pretend the sequence forgot its prefix
  b_lying.n_tokens = 0;
  EXPECT_THROW(kv.write(0, b_lying.blocks, 0, x, x), Error);
  write_positions(kv, b, p, 2);  // its own block: fine
  expect_contents(kv, a, p);
  expect_contents(kv, b, p);
  kv.release(a);
  kv.release(b);
  kv.check_invariants();
}

// The chain hash depends on the parent, every token, their order and the count; and it spreads:
// no collision among 100k random blocks, each output bit set about half the time.
TEST(BlockHash, SensitiveToEveryInputAndWellSpread) {
  const std::vector<int32_t> t = {5, 6, 7, 8};
  const uint64_t h = hash_block(kRootBlockHash, t);
  EXPECT_NE(h, hash_block(kRootBlockHash + 1, t));
  EXPECT_NE(h, hash_block(kRootBlockHash, std::vector<int32_t>{6, 5, 7, 8}));
  EXPECT_NE(h, hash_block(kRootBlockHash, std::span<const int32_t>(t).first(3)));
  for (size_t i = 0; i < t.size(); ++i) {
    std::vector<int32_t> u = t;
    u[i] ^= 1;
    EXPECT_NE(h, hash_block(kRootBlockHash, u));
  }
  std::mt19937 rng(3);
  std::vector<uint64_t> seen;
  std::vector<int> bit_count(64, 0);
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> b(16);
    for (auto& x : b) x = static_cast<int32_t>(rng() % 32000);
    const uint64_t v = hash_block(kRootBlockHash, b);
    seen.push_back(v);
    for (int k = 0; k < 64; ++k) bit_count[k] += static_cast<int>((v >> k) & 1);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());
  for (int k = 0; k < 64; ++k) EXPECT_NEAR(bit_count[k], n / 2, n / 50) << "bit " << k;
}

// A block is accepted only with the prompt's tokens and right after the block accepted before
// it: with 2-bit hashes, find a chain where X,Y and Z,Y give the same hash for Y.
TEST(PrefixIndex, CollisionsOnlyMiss) {
  const int bs = 2;
  auto h = [](uint64_t parent, std::vector<int32_t> t) { return hash_block(parent, t) & 3; };
  bool found = false;
  std::vector<int32_t> X, Y, Z;
  for (int32_t x = 0; x < 50 && !found; ++x) {
    for (int32_t z = 0; z < 50 && !found; ++z) {
      for (int32_t y = 0; y < 50 && !found; ++y) {
        const uint64_t hx = h(kRootBlockHash, {x, x}), hz = h(kRootBlockHash, {z, z});
        const uint64_t hy = h(hx, {y, y});
        if (x != z && hx != hz && hy == h(hz, {y, y}) && hy != hx && hy != hz) {
          X = {x, x}, Y = {y, y}, Z = {z, z};
          found = true;
        }
      }
    }
  }
  ASSERT_TRUE(found);
  PrefixIndex index(8, bs);
  index.set_hash_bits_for_testing(2);
  std::vector<int32_t> a = X;
  a.insert(a.end(), Y.begin(), Y.end());
  EXPECT_EQ(index.insert(std::vector<int32_t>{0, 1}, a), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(index.insert(std::vector<int32_t>{2}, Z), (std::vector<int32_t>{2}));
  std::vector<int32_t> zy = Z;
  zy.insert(zy.end(), Y.begin(), Y.end());
  // Block 1 sits under Y's hash with Y's tokens, but after X, not Z: only Z matches.
  EXPECT_EQ(index.match(zy, 2), (std::vector<int32_t>{2}));
  EXPECT_EQ(index.match(a, 2), (std::vector<int32_t>{0, 1}));
  // A block whose hash is taken by other tokens stays unregistered (later blocks too).
  PrefixIndex one(8, bs);
  one.set_hash_bits_for_testing(0);  // every hash is 0
  EXPECT_EQ(one.insert(std::vector<int32_t>{3, 4}, a), (std::vector<int32_t>{3}));
  EXPECT_EQ(one.insert(std::vector<int32_t>{5}, Z), (std::vector<int32_t>{}));
  EXPECT_EQ(one.match(Z, 1), (std::vector<int32_t>{}));
  EXPECT_EQ(one.match(a, 2), (std::vector<int32_t>{3}));
  one.erase(3);
  EXPECT_EQ(one.match(a, 2), (std::vector<int32_t>{}));
  EXPECT_EQ(one.insert(std::vector<int32_t>{5}, Z), (std::vector<int32_t>{5}));
  EXPECT_EQ(one.match(Z, 1), (std::vector<int32_t>{5}));
  index.check_invariants();
  one.check_invariants();
}

// 10k random operations (start with a prefix match, extend and register, release, take and give
// back raw blocks) on a small cache, so eviction is frequent. After every operation: accounting
// and index invariants, every refcount equal to the references actually held, and every matched
// position holding the KV written for exactly that prefix.
void random_ops(int hash_bits, uint32_t seed) {
  const int32_t bs = 4;
  const int32_t n_blocks = 24;
  KvCache kv(tiny_config(), n_blocks, bs);
  kv.set_check_writes(true);
  kv.prefix_index().set_hash_bits_for_testing(hash_bits);
  std::mt19937 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  // A few shared beginnings over a 3-token alphabet make hits (and near misses) common.
  std::vector<std::vector<int32_t>> bases(4);
  for (auto& b : bases) {
    for (int i = 0; i < 24; ++i) b.push_back(static_cast<int32_t>(uniform(0, 2)));
  }
  struct Live {
    SequenceKv kv;
    std::vector<int32_t> tokens;
  };
  std::vector<std::unique_ptr<Live>> live;
  std::vector<int32_t> raw;
  int64_t hit_tokens = 0, evicting_reserves = 0;

  for (int op = 0; op < 10000; ++op) {
    const int64_t kind = uniform(0, 9);
    if (kind <= 2 && live.size() < 8) {
      auto s = std::make_unique<Live>();
      const auto& base = bases[static_cast<size_t>(uniform(0, 3))];
      s->tokens.assign(base.begin(), base.begin() + uniform(0, 24));
      for (int64_t i = uniform(1, 10); i > 0; --i) {
        s->tokens.push_back(static_cast<int32_t>(uniform(0, 2)));
      }
      const int64_t m = kv.match_prefix(s->kv, s->tokens);
      ASSERT_EQ(m % bs, 0);
      ASSERT_LT(m, static_cast<int64_t>(s->tokens.size()));
      ASSERT_EQ(s->kv.n_tokens, m);
      expect_contents(kv, s->kv, s->tokens);
      hit_tokens += m;
      live.push_back(std::move(s));
    } else if (kind <= 6 && !live.empty()) {
      Live& s = *live[static_cast<size_t>(uniform(0, static_cast<int64_t>(live.size()) - 1))];
      const int64_t left = static_cast<int64_t>(s.tokens.size()) - s.kv.n_tokens;
      if (left > 0) {
        const int64_t n = uniform(1, std::min<int64_t>(left, 9));
        const int64_t need =
            KvCache::blocks_for(s.kv.n_tokens + n, bs) - static_cast<int64_t>(s.kv.blocks.size());
        if (need > kv.pool().n_free() && need <= kv.pool().n_available()) ++evicting_reserves;
        if (kv.reserve(s.kv, s.kv.n_tokens + n)) {
          write_positions(kv, s.kv, s.tokens, n);
          if (uniform(0, 4) != 0) kv.register_blocks(s.kv, s.tokens);
        }
      }
    } else if (kind <= 8 && !live.empty()) {
      const auto i = static_cast<size_t>(uniform(0, static_cast<int64_t>(live.size()) - 1));
      expect_contents(kv, live[i]->kv, live[i]->tokens);
      kv.release(live[i]->kv);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (uniform(0, 1) == 0 && raw.size() < 4) {
      const int32_t b = kv.pool().allocate();
      if (b >= 0) raw.push_back(b);
    } else if (!raw.empty()) {
      kv.pool().release(raw.back());
      raw.pop_back();
    }
    ASSERT_NO_THROW(kv.check_invariants()) << "after operation " << op;
    std::map<int32_t, int32_t> refs;
    for (const auto& s : live) {
      for (int32_t b : s->kv.blocks) refs[b]++;
    }
    for (int32_t b : raw) refs[b]++;
    ASSERT_EQ(kv.pool().n_used(), static_cast<int32_t>(refs.size())) << "operation " << op;
    for (const auto& [b, n] : refs) ASSERT_EQ(kv.pool().refcount(b), n) << "block " << b;
    ASSERT_EQ(kv.pool().n_used() + kv.pool().n_cached() + kv.pool().n_free(), n_blocks);
  }
  EXPECT_GT(hit_tokens, 0);
  EXPECT_GT(evicting_reserves, 0);
  for (auto& s : live) kv.release(s->kv);
  for (int32_t b : raw) kv.pool().release(b);
  kv.check_invariants();
  EXPECT_EQ(kv.pool().n_used(), 0);
}

TEST(KvCachePrefix, RandomOperationsKeepExactAccounting) {
  for (uint32_t seed : {1234u, 1u, 2u, 3u}) random_ops(64, seed);
}

TEST(KvCachePrefix, RandomOperationsWithTinyHashesNeverMatchWrongKv) {
  for (int bits : {0, 1, 3, 6}) random_ops(bits, 99u + static_cast<uint32_t>(bits));
}

double max_rel_diff(std::span<const float> a, std::span<const float> b) {
  double d = 0, scale = 1e-6;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return d / scale;
}

// Every float of the given blocks in every layer (keys and values).
std::vector<float> snapshot(const KvCache& kv, int32_t n_layer,
                            const std::vector<int32_t>& blocks) {
  std::vector<float> out;
  for (int32_t l = 0; l < n_layer; ++l) {
    const KvLayerView view = kv.layer_view(l);
    for (int32_t b : blocks) {
      const int64_t stride = view.k.block_stride;
      out.insert(out.end(), view.k.f32 + b * stride, view.k.f32 + (b + 1) * stride);
      out.insert(out.end(), view.v.f32 + b * stride, view.v.f32 + (b + 1) * stride);
    }
  }
  return out;
}

// Two prompts share a 40-token prefix. The second reuses 32 tokens (2 full blocks of 16) of the
// first's KV and prefills only the rest: same logits at every remaining position as from
// scratch, and the shared blocks are bit-for-bit unchanged afterwards.
void shared_prefix_run(bool first_still_running) {
  TestModel runner(stories());
  KvCache& kv = runner.kv();
  kv.set_check_writes(true);
  const int32_t vocab = runner.config().n_vocab;
  std::mt19937 rng(7);
  auto random_tokens = [&](int n) {
    std::vector<int32_t> t;
    for (int i = 0; i < n; ++i) t.push_back(static_cast<int32_t>(rng() % (vocab - 3)) + 3);
    return t;
  };
  const std::vector<int32_t> prefix = random_tokens(40);
  std::vector<int32_t> a = prefix, b = prefix;
  for (int32_t t : random_tokens(11)) a.push_back(t);
  for (int32_t t : random_tokens(13)) b.push_back(t);

  const std::vector<std::vector<float>> expected = runner.all_logits(b);

  SequenceKv sa;
  runner.prefill(sa, a, 16, [](int64_t, std::span<const float>) {});
  kv.register_blocks(sa, a);
  EXPECT_EQ(kv.prefix_index().size(), 3);  // 51 tokens: 3 full blocks
  if (!first_still_running) kv.release(sa);
  kv.check_invariants();

  SequenceKv sb;
  const int64_t reused = kv.match_prefix(sb, b);
  EXPECT_EQ(reused, 32);
  ASSERT_EQ(sb.blocks.size(), 2u);
  const std::vector<int32_t> shared = sb.blocks;
  const std::vector<float> before = snapshot(kv, runner.config().n_layer, shared);
  int64_t checked = 0;
  runner.prefill(sb, std::span<const int32_t>(b).subspan(static_cast<size_t>(reused)), 4096,
                 [&](int64_t pos, std::span<const float> logits) {
                   const auto& want = expected[static_cast<size_t>(pos)];
                   EXPECT_LT(max_rel_diff(logits, want), 1e-5) << "position " << pos;
                   ++checked;
                 });
  EXPECT_EQ(checked, static_cast<int64_t>(b.size()) - 32);
  EXPECT_EQ(sb.n_tokens, static_cast<int64_t>(b.size()));
  EXPECT_EQ(snapshot(kv, runner.config().n_layer, shared), before);
  kv.register_blocks(sb, b);  // its third block (b's own tokens 32..47) is new
  kv.check_invariants();
  if (first_still_running) kv.release(sa);
  kv.release(sb);
  kv.check_invariants();
  EXPECT_EQ(kv.pool().n_used(), 0);
}

TEST(PrefixCacheModel, SharedPrefixGivesSameLogitsWhileFirstRuns) { shared_prefix_run(true); }

TEST(PrefixCacheModel, SharedPrefixGivesSameLogitsFromCachedBlocks) { shared_prefix_run(false); }

}  // namespace
}  // namespace packinfer::test
