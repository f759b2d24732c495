// Keys stored before their rotary embedding (kv/key_rope.h): the rotation taken off and put back
// is the identity, it is the model's own RoPE (pairing and angles, both styles), and a key cache
// quantized per channel loses nothing on what RoPE alone makes vary along a block.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/kernel_table.h"
#include "kv/key_rope.h"
#include "kv/kv_format.h"
#include "kv/kv_storage.h"
#include "support/isa_levels.h"

namespace packinfer::test {
namespace {

const RopeStyle kStyles[] = {RopeStyle::Normal, RopeStyle::NeoX};

// Past the table's last block the angles are computed when met: same results.
TEST(KeyRope, RemoveThenApplyGivesTheKeyBack) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  for (RopeStyle style : kStyles) {
    const KeyRope key_rope(64, 32, 1024, 10000.0f, style);
    for (int64_t pos0 : {int64_t{0}, int64_t{37}, int64_t{1000}, int64_t{5000}}) {
      std::vector<float> rows(5 * 64);
      for (float& x : rows) x = u(rng);
      const std::vector<float> want = rows;
      key_rope.remove(rows.data(), 5, pos0);
      EXPECT_NE(rows, want);
      key_rope.apply(rows.data(), 5, pos0);
      for (size_t i = 0; i < rows.size(); ++i) {
        ASSERT_NEAR(rows[i], want[i], 1e-5f) << "pos0 " << pos0 << " element " << i;
      }
    }
  }
}

// The angles of a context of millions of positions are computed only where positions are met, and
// are those computed past the table; threads meeting a new chunk at once all get the same angles.
TEST(KeyRope, AngleTablesAreFilledOnlyWherePositionsAreMet) {
  const KeyRope large(64, 32, int64_t{4} << 20, 10000.0f, RopeStyle::Normal);
  const KeyRope small(64, 32, 32, 10000.0f, RopeStyle::Normal);  // computes every block's angles
  EXPECT_EQ(large.chunks_filled(), 0);
  std::vector<float> key(64);
  for (int i = 0; i < 64; ++i) key[static_cast<size_t>(i)] = std::cos(0.3f * i);
  const int64_t pos = 3000000 + 5;
  std::vector<std::vector<float>> got(4, key);
  std::vector<std::thread> threads;
  for (auto& rows : got) threads.emplace_back([&] { large.apply(rows.data(), 1, pos); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(large.chunks_filled(), 1);
  std::vector<float> want = key;
  small.apply(want.data(), 1, pos);
  for (const auto& rows : got) EXPECT_EQ(rows, want);
}

// KeyRope turns a key the way the model's rope kernel does: the same pairs of channels by the same
// angles (up to the float rounding of the kernel's angles, which grows with the position).
TEST(KeyRope, ApplyIsTheModelsRope) {
  const int32_t hd = 16, bs = 8;
  const std::vector<int32_t> positions = {0, 1, 7, 8, 9, 100, 2047, 3000};
  for (RopeStyle style : kStyles) {
    const KeyRope key_rope(hd, bs, 4096, 500000.0f, style);
    std::vector<float> key(hd);
    for (int i = 0; i < hd; ++i) key[static_cast<size_t>(i)] = std::sin(1.0f + 0.7f * i);
    for (int32_t p : positions) {
      std::vector<float> model = key, ours = key;
      rope(model.data(), 1, hd, 1, hd, &p, 500000.0f, style);
      key_rope.apply(ours.data(), 1, p);
      for (int i = 0; i < hd; ++i) {
        EXPECT_NEAR(ours[static_cast<size_t>(i)], model[static_cast<size_t>(i)], 2e-3f)
            << "position " << p << " channel " << i;
      }
    }
  }
}

// A head whose keys are one vector turned by RoPE: before RoPE every channel is constant along
// the block, so even 2-bit KIVI keys come back with no more than the f16 staging's rounding,
// where quantized after RoPE the fast pairs would sweep their whole radius in a block.
TEST(KeyRope, KeysQuantizedPerChannelLoseNothingRopeAloneMakesVary) {
  for (RopeStyle style : kStyles) {
    for (KvType t : {KvType::Q8_0, KvType::Kivi4, KvType::Kivi2}) {
      SCOPED_TRACE(testing::Message() << kv_type_name(t) << " style " << static_cast<int>(style));
      KvShape shape{.n_layer = 1, .n_kv_heads = 1, .head_dim = 32};
      shape.rope_freq_base = 10000.0f;
      shape.rope_style = style;
      const KvFormat format{t, KvType::F16};
      ASSERT_TRUE(kv_keys_before_rope(format));
      KvStorage s(shape, 4, 16, format, kernels_for(Isa::Scalar));
      std::vector<float> key(32), v(32, 0.0f);
      auto rotated = [&](int32_t pos) {
        for (int i = 0; i < 32; ++i) key[static_cast<size_t>(i)] = std::cos(0.37f * i) + 0.5f;
        rope(key.data(), 1, 32, 1, 32, &pos, 10000.0f, style);
        return key;
      };
      const int32_t first = 48;  // the block at positions 48..63, stored in block 1
      for (int32_t p = first; p < first + 16; ++p) {
        rotated(p);
        s.write(0, 1, p, key.data(), v.data());
      }
      std::vector<float> got(16 * 32);
      const KvLayerView view = s.layer_view(0);
      view.k.decode(view.k.ctx, 1, 0, 0, 16, first, got.data());
      double worst = 0;
      for (int32_t p = first; p < first + 16; ++p) {
        const std::vector<float> want = rotated(p);
        for (int i = 0; i < 32; ++i) {
          worst = std::max(worst, double(std::fabs(got[static_cast<size_t>((p - first) * 32 + i)] -
                                                   want[static_cast<size_t>(i)])));
        }
      }
      std::printf("%s: largest error %.2g\n", kv_type_name(t), worst);
      EXPECT_LT(worst, 2e-3);  // after RoPE: 8e-3 (q8_0) to 0.13 (kivi2)
    }
  }
}

// Every level's rotation gives the scalar reference's floats, bit for bit, in both styles and
// both directions, for heads it vectorizes (64, 128) and heads it hands to the scalar code (8).
using KeyRopeLevel = LevelTest;

TEST_P(KeyRopeLevel, RotationMatchesTheScalarReference) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  for (int32_t hd : {8, 64, 128}) {
    for (RopeStyle style : kStyles) {
      const KeyRope want(hd, 32, 4096, 1000000.0f, style, ref().kv_rotate_rows);
      const KeyRope got(hd, 32, 4096, 1000000.0f, style, kt().kv_rotate_rows);
      for (int64_t pos0 : {int64_t{0}, int64_t{45}, int64_t{4000}, int64_t{9001}}) {
        const int32_t n = static_cast<int32_t>(32 - pos0 % 32);
        std::vector<float> a(static_cast<size_t>(n) * hd);
        for (float& x : a) x = u(rng);
        std::vector<float> b = a;
        want.remove(a.data(), n, pos0);
        got.remove(b.data(), n, pos0);
        ASSERT_EQ(a, b) << "remove, head " << hd << " pos0 " << pos0;
        want.apply(a.data(), n, pos0);
        got.apply(b.data(), n, pos0);
        ASSERT_EQ(a, b) << "apply, head " << hd << " pos0 " << pos0;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, KeyRopeLevel, testing::ValuesIn(all_levels()), level_param_name);

// The Hadamard rotation mixes the channels RoPE turns in pairs: rotated formats keep their keys
// after RoPE, and the two layouts have different ids, so their cached blocks never meet.
TEST(KeyRope, OnlyUnrotatedPerChannelKeysAreStoredBeforeRope) {
  EXPECT_TRUE(kv_keys_before_rope({KvType::Q8_0, KvType::Q8_0}));
  EXPECT_TRUE(kv_keys_before_rope({KvType::Kivi4, KvType::F16}));
  EXPECT_FALSE(kv_keys_before_rope({KvType::Q8_0, KvType::Q8_0, true}));
  EXPECT_FALSE(kv_keys_before_rope({KvType::F16, KvType::Q8_0}));
  EXPECT_FALSE(kv_keys_before_rope({KvType::Q4_0, KvType::Q4_0}));
  EXPECT_NE((KvFormat{KvType::Q8_0, KvType::Q8_0}.id()),
            (KvFormat{KvType::Q8_0, KvType::Q8_0, true}.id()));
}

}  // namespace
}  // namespace packinfer::test
