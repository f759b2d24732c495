// Paged tiled attention of every instruction-set level against a naive reference: full softmax in
// double over a contiguous copy of K/V. The KV pool is shared by several sequences whose block
// tables are shuffled, so a kernel that assumed contiguous blocks, or read positions past a
// sequence's end (those slots hold NaN), fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/kernel_table.h"
#include "support/isa_levels.h"
#include "util/thread_pool.h"

namespace packinfer {
namespace {

using Kernel = std::function<void(const AttentionShape&, const KvLayerView&, const AttentionItem&)>;
using test::LevelTest;

struct Seq {
  int64_t pos0;   // positions already cached before the new queries
  int64_t n_new;  // new queries (their K/V are in the cache too)
  int64_t q_begin, q_end;
  std::vector<int32_t> table;
  int64_t len() const { return pos0 + n_new; }
};

struct Problem {
  AttentionShape shape;
  std::vector<Seq> seqs;
  std::vector<float> k, v;  // block pools
  int64_t block_stride = 0;
  float q_mult = 1.0f;  // larger -> peakier softmax
  // Float rounding of a score is relative to its size, so bigger scores (q_mult) get a
  // proportionally larger tolerance.
  double tol() const { return 1e-5 * std::max(1.0f, q_mult / 2); }
};

double g_worst = 0.0;  // largest relative error seen, printed by the grid tests

float nan_f() { return std::numeric_limits<float>::quiet_NaN(); }

// Fills the pool: each sequence gets ceil(len / block_size) blocks picked from a shuffled list
// (plus spare blocks no one owns). Everything not part of a sequence stays NaN.
void build_pool(Problem& pb, std::mt19937& rng) {
  const AttentionShape& s = pb.shape;
  int64_t n_blocks = 3;  // spares
  for (const Seq& q : pb.seqs) n_blocks += (q.len() + s.block_size - 1) / s.block_size;
  pb.block_stride = static_cast<int64_t>(s.n_kv_heads) * s.block_size * s.head_dim;
  pb.k.assign(n_blocks * pb.block_stride, nan_f());
  pb.v.assign(n_blocks * pb.block_stride, nan_f());
  std::vector<int32_t> ids(n_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  size_t next = 0;
  for (Seq& q : pb.seqs) {
    q.table.clear();
    for (int64_t p = 0; p < q.len(); p += s.block_size) q.table.push_back(ids[next++]);
    for (int64_t p = 0; p < q.len(); ++p) {
      for (int h = 0; h < s.n_kv_heads; ++h) {
        const int64_t off =
            q.table[p / s.block_size] * pb.block_stride +
            (static_cast<int64_t>(h) * s.block_size + p % s.block_size) * s.head_dim;
        for (int d = 0; d < s.head_dim; ++d) {
          pb.k[off + d] = u(rng);
          pb.v[off + d] = u(rng);
        }
      }
    }
  }
}

const float* kv_at(const Problem& pb, const std::vector<float>& pool, const Seq& q, int64_t p,
                   int h) {
  const AttentionShape& s = pb.shape;
  return pool.data() + q.table[p / s.block_size] * pb.block_stride +
         (static_cast<int64_t>(h) * s.block_size + p % s.block_size) * s.head_dim;
}

// Runs `kernel` on every kv head of every sequence and compares with the double reference.
void check(Problem pb, Kernel kernel, uint32_t seed) {
  std::mt19937 rng(seed);
  build_pool(pb, rng);
  const AttentionShape& s = pb.shape;
  const int g = s.n_heads / s.n_kv_heads;
  const int hd = s.head_dim;
  const int64_t row = static_cast<int64_t>(s.n_heads) * hd;
  const int64_t q_stride = row + 5, out_stride = row + 3;  // padded rows
  const float sentinel = 12345.0f;
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const KvLayerView kv = f32_layer_view(pb.k.data(), pb.v.data(), pb.block_stride);

  double worst = 0.0;
  for (const Seq& sq : pb.seqs) {
    std::vector<float> q(sq.n_new * q_stride), out(sq.n_new * out_stride, sentinel);
    for (float& x : q) x = u(rng) * pb.q_mult;
    for (int kvh = 0; kvh < s.n_kv_heads; ++kvh) {
      AttentionItem it;
      it.q = q.data();
      it.q_stride = q_stride;
      it.out = out.data();
      it.out_stride = out_stride;
      it.q_begin = sq.q_begin;
      it.q_end = sq.q_end;
      it.pos0 = sq.pos0;
      it.kv_head = kvh;
      it.block_table = sq.table.data();
      kernel(s, kv, it);
    }
    for (int64_t i = 0; i < sq.n_new; ++i) {
      const bool active = i >= sq.q_begin && i < sq.q_end;
      for (int h = 0; h < s.n_heads; ++h) {
        const float* got = out.data() + i * out_stride + static_cast<int64_t>(h) * hd;
        if (!active) {
          for (int d = 0; d < hd; ++d) ASSERT_EQ(got[d], sentinel) << "row " << i << " written";
          continue;
        }
        const float* qh = q.data() + i * q_stride + static_cast<int64_t>(h) * hd;
        const int kvh = h / g;
        const int64_t n = sq.pos0 + i + 1;
        std::vector<double> sc(n), ref(hd, 0.0);
        double mx = -1e300, sum = 0.0;
        for (int64_t p = 0; p < n; ++p) {
          const float* kp = kv_at(pb, pb.k, sq, p, kvh);
          double dot = 0.0;
          for (int d = 0; d < hd; ++d) dot += static_cast<double>(qh[d]) * kp[d];
          sc[p] = dot * s.scale;
          mx = std::max(mx, sc[p]);
        }
        for (int64_t p = 0; p < n; ++p) {
          const double e = std::exp(sc[p] - mx);
          sum += e;
          const float* vp = kv_at(pb, pb.v, sq, p, kvh);
          for (int d = 0; d < hd; ++d) ref[d] += e * vp[d];
        }
        for (int d = 0; d < hd; ++d) {
          const double r = ref[d] / sum;
          const double err = std::abs(got[d] - r) / std::max(std::abs(r), 0.1);
          worst = std::max(worst, err);
          ASSERT_LE(err, pb.tol()) << "seq pos0=" << sq.pos0 << " query " << i << " head " << h
                                   << " d " << d << " got " << got[d] << " want " << r;
        }
      }
      for (int64_t c = row; c < out_stride; ++c) ASSERT_EQ(out[i * out_stride + c], sentinel);
    }
  }
  g_worst = std::max(g_worst, worst);
}

Problem make(int n_heads, int n_kv, int hd, int bs, std::vector<Seq> seqs, float q_mult = 1.0f) {
  Problem pb;
  pb.shape = {n_heads, n_kv, hd, bs, 1.0f / std::sqrt(static_cast<float>(hd))};
  pb.seqs = std::move(seqs);
  pb.q_mult = q_mult;
  return pb;
}

// Fresh prefill, chunked prefill (prefix cached) with a query subrange, and a decode step.
std::vector<Seq> mixed_seqs() {
  return {{0, 37, 0, 37, {}}, {50, 21, 5, 17, {}}, {200, 1, 0, 1, {}}, {13, 9, 0, 9, {}}};
}

void grid(Kernel kernel) {
  g_worst = 0.0;
  const std::pair<int, int> heads[] = {{1, 1}, {4, 2}, {9, 3}, {14, 2}, {8, 8}};
  uint32_t seed = 1;
  for (auto [nh, nkv] : heads) {
    for (int hd : {8, 64, 128}) {
      for (int bs : {1, 3, 16}) {
        SCOPED_TRACE(testing::Message()
                     << "heads " << nh << "/" << nkv << " hd " << hd << " bs " << bs);
        check(make(nh, nkv, hd, bs, mixed_seqs()), kernel, seed++);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
  std::printf("worst relative error over the grid: %.3g\n", g_worst);
}

// The kernels of one level through its dispatcher: the level's own kernel where it handles the
// head size, else the scalar one.
Kernel level_kernel(const KernelTable& kt) {
  return [&kt](const AttentionShape& s, const KvLayerView& kv, const AttentionItem& it) {
    attention_with(kt, s, kv, it);
  };
}

TEST(Attention, ScalarAnyHeadDim) {
  for (int hd : {1, 5, 12}) {
    SCOPED_TRACE(hd);
    check(make(6, 2, hd, 4, mixed_seqs()), kernels_for(Isa::Scalar).attention, 20 + hd);
  }
}

TEST(Attention, DispatcherMatchesReference) {
  check(make(9, 3, 64, 16, mixed_seqs()), attention, 7);
  check(make(4, 2, 5, 3, mixed_seqs()), attention, 8);  // odd head_dim: scalar fallback
}

class AttentionLevel : public LevelTest {};

TEST_P(AttentionLevel, MatchesReference) {
  // Every head size of the grid is one the SIMD levels handle themselves (multiples of 8).
  ASSERT_EQ(64 % kt().attention_head_dim_multiple, 0);
  grid(kt().attention);
}

TEST_P(AttentionLevel, OtherHeadDims) {
  // Multiples of 8 that are not multiples of 32 exercise the partial P·V slices; 5 and 12 are
  // not multiples of 8 (scalar fallback in the SIMD levels), 256 is the largest AVX2 handles.
  for (int hd : {5, 12, 16, 24, 40, 96, 256}) {
    SCOPED_TRACE(hd);
    check(make(6, 2, hd, 16, mixed_seqs()), level_kernel(kt()), 30 + hd);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST_P(AttentionLevel, LargeAndOddBlockSizes) {
  // Blocks larger than a 16-key chunk, and sizes that make chunks straddle block boundaries.
  for (int bs : {5, 17, 37, 64}) {
    SCOPED_TRACE(bs);
    check(make(9, 3, 64, bs, mixed_seqs()), kt().attention, 40 + bs);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST_P(AttentionLevel, ManyHeadsPerKvHead) {
  // g = 40 is more than one tile of rows: heads are processed in groups.
  check(make(40, 1, 8, 16, mixed_seqs()), kt().attention, 50);
}

TEST_P(AttentionLevel, PeakySoftmax) {
  // Large scores make the running max change often and test the rescaling.
  check(make(4, 2, 64, 3, mixed_seqs(), 8.0f), kt().attention, 60);
  check(make(4, 2, 64, 16, mixed_seqs(), 8.0f), kt().attention, 61);
}

TEST_P(AttentionLevel, DecodeAtLongPositions) {
  std::vector<Seq> seqs = {{3000, 1, 0, 1, {}}, {4097, 1, 0, 1, {}}, {2999, 2, 0, 2, {}}};
  check(make(9, 3, 64, 16, seqs), kt().attention, 70);
  check(make(14, 2, 128, 3, seqs), kt().attention, 71);
  check(make(8, 8, 64, 1, seqs), kt().attention, 72);
}

TEST_P(AttentionLevel, LongChunkedPrefill) {
  std::vector<Seq> seqs = {{0, 300, 0, 300, {}}, {700, 64, 3, 61, {}}};
  check(make(9, 3, 64, 16, seqs), kt().attention, 80);
}

// Items of one layer run concurrently on a pool (the engine's use): each thread's scratch is its
// own, so results must equal the sequential run bit for bit.
TEST_P(AttentionLevel, ConcurrentItemsMatchSequential) {
  const Kernel k = kt().attention;
  Problem pb = make(9, 3, 64, 16, {{40, 200, 0, 200, {}}});
  std::mt19937 rng(90);
  build_pool(pb, rng);
  const Seq& sq = pb.seqs[0];
  const int64_t row = 9 * 64;
  std::vector<float> q(sq.n_new * row);
  for (float& x : q) x = std::uniform_real_distribution<float>(-1, 1)(rng);
  std::vector<AttentionItem> items;
  for (int h = 0; h < 3; ++h) {
    for (int64_t b = 0; b < sq.n_new; b += 25) {
      items.push_back({q.data(), row, nullptr, row, b, b + 25, sq.pos0, h, sq.table.data()});
    }
  }
  const KvLayerView kv = f32_layer_view(pb.k.data(), pb.v.data(), pb.block_stride);
  std::vector<float> seq_out(q.size()), par_out(q.size());
  for (AttentionItem it : items) {
    it.out = seq_out.data();
    k(pb.shape, kv, it);
  }
  ThreadPool pool(4);
  pool.parallel_for(static_cast<int64_t>(items.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      AttentionItem it = items[i];
      it.out = par_out.data();
      k(pb.shape, kv, it);
    }
  });
  EXPECT_EQ(seq_out, par_out);
}

// shape.batch_invariant: a query's output has the same bits whether its item holds it alone (a
// decode), a few queries or a whole prefill chunk, for head sizes that take each kernel's paths.
TEST_P(AttentionLevel, BatchInvariantQueriesDoNotDependOnTheirItem) {
  for (int hd : {8, 64, 128}) {
    Problem pb = make(6, 2, hd, 16, {{40, 60, 0, 60, {}}});
    pb.shape.batch_invariant = true;
    std::mt19937 rng(91 + hd);
    build_pool(pb, rng);
    const Seq& sq = pb.seqs[0];
    const int64_t row = 6 * hd;
    std::vector<float> q(sq.n_new * row);
    for (float& x : q) x = std::uniform_real_distribution<float>(-1, 1)(rng);
    const KvLayerView kv = f32_layer_view(pb.k.data(), pb.v.data(), pb.block_stride);
    auto run = [&](int64_t step) {
      std::vector<float> out(q.size());
      for (int h = 0; h < 2; ++h) {
        for (int64_t b = 0; b < sq.n_new; b += step) {
          attention_with(kt(), pb.shape, kv,
                         {q.data(), row, out.data(), row, b, std::min(sq.n_new, b + step), sq.pos0,
                          h, sq.table.data()});
        }
      }
      return out;
    };
    const std::vector<float> whole = run(sq.n_new);
    for (int64_t step : {1, 2, 5, 16}) {
      EXPECT_EQ(run(step), whole) << "head_dim " << hd << ", items of " << step << " queries";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, AttentionLevel, testing::ValuesIn(test::all_levels()),
                         test::level_param_name);

}  // namespace
}  // namespace packinfer
