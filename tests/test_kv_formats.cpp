// KV cache formats: their sizes, what a model can use, the reference codecs' error bounds, the
// KIVI staging of keys, and every format through the engine on stories260K (generate, serving
// with prefix-cache hits, preemption, packed batches); formats never share prefix-cache blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <numeric>
#include <random>

#include "kernels/kernel_table.h"
#include "kernels/kv_codecs.h"
#include "kv/kv_cache.h"
#include "kv/kv_format.h"
#include "kv/kv_storage.h"
#include "packinfer/batch.h"
#include "packinfer/engine.h"
#include "packinfer/error.h"
#include "packinfer/serving.h"
#include "support/isa_levels.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

const KvType kAll[] = {KvType::F32,  KvType::F16,   KvType::BF16, KvType::Q8_0,
                       KvType::Q4_0, KvType::Kivi4, KvType::Kivi2};

TEST(KvFormat, NamesParseAndUnknownOnesListTheFormats) {
  for (KvType t : kAll) EXPECT_EQ(parse_kv_type(kv_type_name(t)), t);
  try {
    parse_kv_type("nonsense");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("'nonsense'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("f32, f16, bf16, q8_0, q4_0, kivi4, kivi2"),
              std::string::npos);
  }
  EXPECT_EQ((KvFormat{KvType::Q8_0, KvType::F16, true}).name(), "k=q8_0 v=f16 rotated");
  EXPECT_NE((KvFormat{KvType::F16, KvType::F16}).id(), (KvFormat{KvType::Q8_0, KvType::Q8_0}).id());
  EXPECT_NE((KvFormat{KvType::F16, KvType::F16}).id(),
            (KvFormat{KvType::F16, KvType::F16, true}).id());
}

// Bytes of one head block, by hand: head_dim 64, block of 32 positions.
TEST(KvFormat, BlockSizesByHand) {
  EXPECT_EQ(kv_head_block_bytes(KvType::F32, true, 64, 32), 32 * 64 * 4);
  EXPECT_EQ(kv_head_block_bytes(KvType::F16, true, 64, 32), 32 * 64 * 2);
  EXPECT_EQ(kv_head_block_bytes(KvType::BF16, false, 64, 32), 32 * 64 * 2);
  // q8_0 values: ggml's blocks of 32; keys: an f16 step and int8 bounds per channel, then bytes.
  EXPECT_EQ(kv_head_block_bytes(KvType::Q8_0, false, 64, 32), 32 * 2 * 34);
  EXPECT_EQ(kv_head_block_bytes(KvType::Q8_0, true, 64, 32), 2 + 2 * 64 + 32 * 64);
  EXPECT_EQ(kv_head_block_bytes(KvType::Q4_0, true, 64, 32), 32 * 2 * 18);
  // KIVI keys: 4-bit codes of 32 x 64 values + an f16 scale and minimum per channel.
  EXPECT_EQ(kv_head_block_bytes(KvType::Kivi4, true, 64, 32), 32 * 64 / 2 + 64 * 4);
  EXPECT_EQ(kv_head_block_bytes(KvType::Kivi2, true, 64, 32), 32 * 64 / 4 + 64 * 4);
  // KIVI values: per position, codes + a scale and minimum per group of 32 channels.
  EXPECT_EQ(kv_head_block_bytes(KvType::Kivi4, false, 64, 32), 32 * (64 / 2 + 2 * 4));
  EXPECT_EQ(kv_head_block_bytes(KvType::Kivi2, false, 64, 32), 32 * (64 / 4 + 2 * 4));
  // A head of 8 values quantizes groups of 8.
  EXPECT_EQ(kv_head_block_bytes(KvType::Q8_0, false, 8, 16), 16 * (2 + 8));
  EXPECT_EQ(kv_head_block_bytes(KvType::Q8_0, true, 8, 16), 2 + 2 * 8 + 16 * 8);
}

// The memory targets per token at 4k tokens, scales and the f16 tail of KIVI keys (one
// block being filled) included: q8_0 <= 0.27x f32, kivi4 <= 0.33x f16, kivi2 <= 0.2x f16.
TEST(KvFormat, BytesPerTokenMeetTheTargetsAt4k) {
  const int32_t hd = 64, bs = 32, tokens = 4096;
  auto per_token = [&](KvType t) {
    double b = kv_bytes_per_position(KvFormat{t, t}, hd, bs);
    if (kv_type_quantizes_keys_per_channel(t)) b += 2.0 * bs * hd / tokens;  // the f16 tail
    return b;
  };
  EXPECT_LE(per_token(KvType::Q8_0), 0.27 * per_token(KvType::F32));
  EXPECT_LE(per_token(KvType::Kivi4), 0.33 * per_token(KvType::F16));
  EXPECT_LE(per_token(KvType::Kivi2), 0.20 * per_token(KvType::F16));
}

TEST(KvFormat, ShapesAFormatCannotStoreAreRefusedNamingBoth) {
  try {
    check_kv_format(KvFormat{KvType::F16, KvType::Q8_0}, 80, 16);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("q8_0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("head size is 80"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_kv_format(KvFormat{KvType::Kivi2, KvType::Kivi2}, 64, 12), InvalidArgument);
  EXPECT_THROW(check_kv_format(KvFormat{KvType::F16, KvType::F16, true}, 96, 16), InvalidArgument);
  EXPECT_NO_THROW(check_kv_format(KvFormat{KvType::Q4_0, KvType::Kivi4, true}, 8, 16));
  // q8_0 keys are grouped per channel: any head size and block size.
  EXPECT_NO_THROW(check_kv_format(KvFormat{KvType::Q8_0, KvType::F16}, 80, 12));
}

// Round trip of the reference codecs: each format's error stays within its quantization step.
TEST(KvCodecs, ScalarRoundTripErrorWithinTheFormatsStep) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int32_t hd : {8, 64, 128}) {
    const int32_t bs = 16;
    std::vector<float> rows(static_cast<size_t>(bs) * hd);
    // Some channels larger than others, as real keys have.
    for (size_t i = 0; i < rows.size(); ++i) {
      rows[i] = normal(rng) * (1.0f + 4.0f * static_cast<float>(i % 7));
    }
    for (KvType t : kAll) {
      for (bool key : {true, false}) {
        const KvCodec& c = key ? kv_key_codec_scalar(static_cast<int>(t))
                               : kv_value_codec_scalar(static_cast<int>(t));
        std::vector<uint8_t> block(static_cast<size_t>(kv_head_block_bytes(t, key, hd, bs)));
        c.encode_block(rows.data(), block.data(), hd, bs);
        std::vector<float> back(rows.size());
        c.decode(block.data(), 0, bs, back.data(), hd, bs);
        // Bound per value: the group's range over the number of levels (half a step after
        // rounding, plus the f16 rounding of the scale and minimum).
        const int32_t g = kv_group_size(hd);
        for (int32_t p = 0; p < bs; ++p) {
          for (int32_t i = 0; i < hd; ++i) {
            const float x = rows[static_cast<size_t>(p * hd + i)];
            const float y = back[static_cast<size_t>(p * hd + i)];
            float lo = x, hi = x;
            const bool per_channel =
                key && (t == KvType::Q8_0 || t == KvType::Kivi4 || t == KvType::Kivi2);
            if (per_channel || t == KvType::Kivi4 || t == KvType::Kivi2) {
              for (int32_t q = 0; q < (key ? bs : 1); ++q) {
                for (int32_t j = 0; j < (key ? 1 : g); ++j) {
                  const int32_t pp = key ? q : p, ii = key ? i : (i / g) * g + j;
                  lo = std::min(lo, rows[static_cast<size_t>(pp * hd + ii)]);
                  hi = std::max(hi, rows[static_cast<size_t>(pp * hd + ii)]);
                }
              }
            } else {
              for (int32_t j = 0; j < g; ++j) {
                const float v = std::fabs(rows[static_cast<size_t>(p * hd + (i / g) * g + j)]);
                hi = std::max(hi, v);
              }
            }
            float bound = 0;
            switch (t) {
              case KvType::F32:
                bound = 0;
                break;
              case KvType::F16:
                bound = std::fabs(x) * 0x1p-11f + 1e-7f;
                break;
              case KvType::BF16:
                bound = std::fabs(x) * 0x1p-8f;
                break;
              case KvType::Q8_0:
                if (key) {
                  // The channel's range, widened by up to a step of the block's largest
                  // magnitude on each side, in 255 levels.
                  float amax = 0;
                  for (float r : rows) amax = std::max(amax, std::fabs(r));
                  bound =
                      (hi - lo + 2.0f * amax / 127.0f * 1.001f) / 255.0f * 0.51f + amax * 0x1p-12f;
                } else {
                  bound = hi / 127.0f * 0.51f + hi * 0x1p-10f;
                }
                break;
              case KvType::Q4_0:
                // A full step: the value of the largest magnitude maps to -8, so one of the
                // opposite sign and about the same magnitude clamps to +7.
                bound = hi / 8.0f * 1.01f + hi * 0x1p-10f;
                break;
              case KvType::Kivi4:
                bound = (hi - lo) / 15.0f * 0.51f + (std::fabs(hi) + std::fabs(lo)) * 0x1p-9f;
                break;
              case KvType::Kivi2:
                bound = (hi - lo) / 3.0f * 0.51f + (std::fabs(hi) + std::fabs(lo)) * 0x1p-9f;
                break;
            }
            ASSERT_LE(std::fabs(x - y), bound) << kv_type_name(t) << (key ? " keys" : " values")
                                               << " hd " << hd << " pos " << p << " ch " << i;
          }
        }
        // A sub-range decodes to the same values as the whole block.
        std::vector<float> part(static_cast<size_t>(5) * hd);
        c.decode(block.data(), 3, 5, part.data(), hd, bs);
        EXPECT_TRUE(std::equal(part.begin(), part.end(), back.begin() + 3 * hd)) << kv_type_name(t);
      }
    }
  }
}

// Every level's codecs against the scalar reference, bit for bit: encoding the same rows gives
// the same bytes, decoding the same bytes the same floats, for keys and values of every format,
// head sizes with and without a vector path, odd block sizes and every sub-range of slots.
using KvCodecLevel = LevelTest;

TEST_P(KvCodecLevel, EncodeAndDecodeMatchTheScalarReference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int32_t hd : {8, 16, 24, 32, 64, 96, 128}) {
    for (int32_t bs : {1, 3, 8, 16, 17}) {
      std::vector<float> rows(static_cast<size_t>(bs) * hd);
      for (size_t i = 0; i < rows.size(); ++i) {
        // Channels of different sizes, exact halves (rounding ties), zeros and a constant group.
        float x = normal(rng) * (1.0f + 4.0f * static_cast<float>(i % 7));
        if (i % 11 == 0) x = std::round(x * 2.0f) / 2.0f;
        if (i % 13 == 0) x = 0.0f;
        rows[i] = x;
      }
      // The last position's first group is constant (a zero scale, or a zero range).
      std::fill_n(rows.end() - hd, std::min(hd, 8), 1.5f);
      for (KvType t : kAll) {
        const KvFormat f{t, t, false};
        bool storable = true;
        try {
          check_kv_format(f, hd, bs);
        } catch (const Error&) {
          storable = false;
        }
        if (!storable) continue;
        for (bool key : {true, false}) {
          SCOPED_TRACE(testing::Message() << kv_type_name(t) << (key ? " keys" : " values")
                                          << " hd " << hd << " bs " << bs);
          const int i = static_cast<int>(t);
          const KvCodec& want = key ? ref().kv_key[i] : ref().kv_value[i];
          const KvCodec& got = key ? kt().kv_key[i] : kt().kv_value[i];
          const size_t bytes = static_cast<size_t>(kv_head_block_bytes(t, key, hd, bs));
          std::vector<uint8_t> a(bytes, 0xA5), b(bytes, 0xA5);
          want.encode_block(rows.data(), a.data(), hd, bs);
          got.encode_block(rows.data(), b.data(), hd, bs);
          ASSERT_EQ(a, b) << "encode_block";
          ASSERT_EQ(want.encode_row == nullptr, got.encode_row == nullptr);
          if (want.encode_row != nullptr) {
            std::vector<uint8_t> c(bytes, 0x5A);
            for (int32_t p = bs - 1; p >= 0; --p) {  // any order of slots
              got.encode_row(rows.data() + static_cast<size_t>(p) * hd, c.data(), p, hd, bs);
            }
            ASSERT_EQ(a, c) << "encode_row";
          }
          for (int32_t slot0 = 0; slot0 < bs; ++slot0) {
            for (int32_t n : {1, bs - slot0}) {
              std::vector<float> x(static_cast<size_t>(n) * hd, -1.0f), y(x.size(), -2.0f);
              want.decode(a.data(), slot0, n, x.data(), hd, bs);
              got.decode(a.data(), slot0, n, y.data(), hd, bs);
              ASSERT_EQ(0, std::memcmp(x.data(), y.data(), x.size() * sizeof(float)))
                  << "decode slots " << slot0 << "+" << n;
            }
          }
        }
      }
    }
  }
}

// Attention of every level reading every format through the KV seam (KvStorage::layer_view:
// f32 in place, the rest decoded tile by tile, KIVI keys of unfilled blocks from their f16
// staging) against the scalar kernel reading the same cache: fresh prefill, chunked prefill of a
// query subrange, decode at a long position, odd lengths, GQA, and mixed key/value formats.
using AttentionFormatLevel = LevelTest;

TEST_P(AttentionFormatLevel, EveryFormatMatchesTheScalarKernel) {
  struct Seq {
    int64_t pos0, n_new, q_begin, q_end;
  };
  const Seq seqs[] = {{0, 37, 0, 37}, {50, 21, 5, 17}, {200, 1, 0, 1}, {13, 9, 0, 9}};
  struct Heads {
    int32_t n_heads, n_kv, hd;
  };
  const Heads shapes[] = {{14, 2, 64}, {9, 3, 128}, {4, 2, 32}, {4, 4, 8}};
  std::vector<KvFormat> formats;
  for (KvType t : kAll) formats.push_back({t, t, false});
  formats.push_back({KvType::F32, KvType::Q8_0, false});
  formats.push_back({KvType::Kivi4, KvType::F32, false});
  formats.push_back({KvType::Kivi2, KvType::Q4_0, true});
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  double worst = 0;
  for (const Heads& h : shapes) {
    for (int32_t bs : {8, 16}) {
      for (const KvFormat& f : formats) {
        SCOPED_TRACE(testing::Message() << f.name() << " heads " << h.n_heads << "/" << h.n_kv
                                        << " hd " << h.hd << " bs " << bs);
        try {
          check_kv_format(f, h.hd, bs);
        } catch (const Error&) {
          continue;  // a shape the format cannot store
        }
        const KvShape shape{1, h.n_kv, h.hd};
        int32_t n_blocks = 2;  // spares
        for (const Seq& s : seqs)
          n_blocks += static_cast<int32_t>((s.pos0 + s.n_new + bs - 1) / bs);
        KvStorage storage(shape, n_blocks, bs, f, kt());
        std::vector<int32_t> ids(static_cast<size_t>(n_blocks));
        std::iota(ids.begin(), ids.end(), 0);
        std::shuffle(ids.begin(), ids.end(), rng);
        size_t next = 0;
        const AttentionShape as{h.n_heads, h.n_kv, h.hd, bs,
                                1.0f / std::sqrt(static_cast<float>(h.hd))};
        for (const Seq& s : seqs) {
          const int64_t len = s.pos0 + s.n_new;
          std::vector<int32_t> table;
          for (int64_t p = 0; p < len; p += bs) table.push_back(ids[next++]);
          std::vector<float> k(static_cast<size_t>(shape.kv_dim())), v(k.size());
          for (int64_t p = 0; p < len; ++p) {
            for (float& x : k) x = u(rng);
            for (float& x : v) x = u(rng);
            storage.write(0, table[static_cast<size_t>(p / bs)], p, k.data(), v.data());
          }
          const int64_t row = static_cast<int64_t>(h.n_heads) * h.hd;
          std::vector<float> q(static_cast<size_t>(s.n_new * row));
          for (float& x : q) x = u(rng) * 3.0f;
          std::vector<float> want(q.size(), 0.0f), got(q.size(), 0.0f);
          for (int32_t kvh = 0; kvh < h.n_kv; ++kvh) {
            AttentionItem it;
            it.q = q.data();
            it.q_stride = row;
            it.out_stride = row;
            it.q_begin = s.q_begin;
            it.q_end = s.q_end;
            it.pos0 = s.pos0;
            it.kv_head = kvh;
            it.block_table = table.data();
            it.out = want.data();
            attention_with(ref(), as, storage.layer_view(0), it);
            it.out = got.data();
            attention_with(kt(), as, storage.layer_view(0), it);
          }
          for (size_t i = 0; i < want.size(); ++i) {
            const double err = std::fabs(got[i] - want[i]) / std::max(std::fabs(want[i]), 0.1f);
            worst = std::max(worst, err);
            ASSERT_LE(err, 2e-5) << "seq pos0 " << s.pos0 << " element " << i << " got " << got[i]
                                 << " want " << want[i];
          }
        }
      }
    }
  }
  std::printf("worst relative difference from the scalar kernel: %.3g\n", worst);
}

INSTANTIATE_TEST_SUITE_P(Levels, AttentionFormatLevel, testing::ValuesIn(all_levels()),
                         level_param_name);

// The SIMD levels have codecs of their own for every lossy format; f32 is a memcpy everywhere.
TEST(KvCodecTables, SimdLevelsOverrideEveryLossyFormat) {
  const KernelTable& scalar = kernels_for(Isa::Scalar);
  for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
    const KernelTable& t = kernels_for(isa);
    const KernelTable& below = kernels_for(isa == Isa::Avx2 ? Isa::Scalar : Isa::Avx2);
    EXPECT_EQ(t.kv_value[0].decode, scalar.kv_value[0].decode);
    for (int f = 1; f < kKvTypeSlots; ++f) {
      EXPECT_NE(t.kv_key[f].decode, below.kv_key[f].decode) << isa_name(isa) << " " << f;
      EXPECT_NE(t.kv_value[f].decode, below.kv_value[f].decode) << isa_name(isa) << " " << f;
      EXPECT_NE(t.kv_value[f].encode_block, below.kv_value[f].encode_block) << isa_name(isa);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, KvCodecLevel, testing::ValuesIn(all_levels()), level_param_name);

// KIVI keys are read from the f16 staging while their block is being filled and from the
// quantized block once it is full; the staging buffer is then freed.
TEST(KvStorage, KiviKeysAreStagedUntilTheirBlockIsFull) {
  const KvShape shape{2, 1, 32};
  KvStorage s(shape, 4, 8, KvFormat{KvType::Kivi2, KvType::F16}, kernels_for(Isa::Scalar));
  std::vector<float> k(32), v(32);
  auto row = [](int pos, int layer, std::vector<float>& out) {
    for (int i = 0; i < 32; ++i) out[static_cast<size_t>(i)] = std::sin(0.3f * pos + i + layer);
  };
  for (int pos = 0; pos < 5; ++pos) {
    for (int l = 0; l < 2; ++l) {
      row(pos, l, k);
      row(pos, l, v);
      s.write(l, 2, pos, k.data(), v.data());
    }
  }
  EXPECT_GT(s.staging_bytes(), 0);
  std::vector<float> got(5 * 32);
  const KvLayerView view = s.layer_view(1);
  view.k.decode(view.k.ctx, 2, 0, 0, 5, 0, got.data());
  for (int pos = 0; pos < 5; ++pos) {
    row(pos, 1, k);
    for (int i = 0; i < 32; ++i) {
      EXPECT_NEAR(got[static_cast<size_t>(pos * 32 + i)], k[static_cast<size_t>(i)], 1e-3)
          << "staged keys are f16";
    }
  }
  for (int pos = 5; pos < 8; ++pos) {
    for (int l = 0; l < 2; ++l) {
      row(pos, l, k);
      row(pos, l, v);
      s.write(l, 2, pos, k.data(), v.data());
    }
  }
  // Full: 2-bit keys now, with a visible quantization error, and no staging left in use.
  std::vector<float> full(8 * 32);
  view.k.decode(view.k.ctx, 2, 0, 0, 8, 0, full.data());
  double err = 0;
  for (int pos = 0; pos < 8; ++pos) {
    row(pos, 1, k);
    for (int i = 0; i < 32; ++i) err = std::max(err, double(std::fabs(full[pos * 32 + i] - k[i])));
  }
  // Half a step of 2-bit codes, of keys quantized before RoPE (kv/key_rope.h): a pair of channels
  // of norm up to sqrt(2) spans up to 2 sqrt(2), and turning the pair back can put both of its
  // errors into one channel.
  EXPECT_GT(err, 1e-3);
  EXPECT_LT(err, std::sqrt(2.0) * (2 * std::sqrt(2.0) / 3 * 0.51) + 0.01);
  s.release_block(2);  // no-op: nothing staged any more
}

// A step writes its positions layer by layer, and each layer of a block is quantized as soon as
// its last position is written: however many blocks the step fills, it holds one staging buffer
// per layer (the block being filled), not one per block.
TEST(KvStorage, AStepHoldsOneStagingBufferPerLayer) {
  const KvShape shape{3, 2, 32};
  const int32_t bs = 8, n_pos = 6 * bs + 3;
  KvStorage s(shape, 8, bs, KvFormat{KvType::Q8_0, KvType::Q8_0}, kernels_for(Isa::Scalar));
  std::vector<float> k(64), v(64);
  for (int32_t l = 0; l < 3; ++l) {
    for (int32_t pos = 0; pos < n_pos; ++pos) {
      for (int i = 0; i < 64; ++i) k[static_cast<size_t>(i)] = std::sin(0.1f * pos + i + l);
      s.write(l, pos / bs, pos, k.data(), v.data());
    }
  }
  const int64_t buffer_bytes = shape.kv_dim() * bs * 2;
  EXPECT_EQ(s.staging_bytes(), 3 * buffer_bytes);
  // The partial block still reads its f16 keys; releasing it frees them for the next block.
  std::vector<float> got(3 * 32);
  const KvLayerView view = s.layer_view(2);
  view.k.decode(view.k.ctx, 6, 1, 0, 3, 6 * bs, got.data());
  for (int32_t pos = 6 * bs; pos < n_pos; ++pos) {
    for (int i = 0; i < 32; ++i) {
      EXPECT_NEAR(got[static_cast<size_t>((pos - 6 * bs) * 32 + i)],
                  std::sin(0.1f * pos + 32 + i + 2), 1e-3);
    }
  }
  s.release_block(6);
  for (int32_t pos = 0; pos < bs; ++pos) s.write(0, 7, 7 * bs + pos, k.data(), v.data());
  EXPECT_EQ(s.staging_bytes(), 3 * buffer_bytes);
}

std::string stories() { return shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }

struct FormatCase {
  const char* type;
  bool rotate;
};

std::string case_name(const ::testing::TestParamInfo<FormatCase>& info) {
  return std::string(info.param.type) + (info.param.rotate ? "_rotated" : "");
}

class EngineFormat : public ::testing::TestWithParam<FormatCase> {
 protected:
  EngineOptions options(int64_t kv_blocks = 0) const {
    EngineOptions o;
    o.model_path = stories();
    o.n_threads = 2;
    o.kv_type = GetParam().type;
    o.kv_rotate = GetParam().rotate;
    o.kv_blocks = kv_blocks;
    return o;
  }
  // Formats that quantize one position at a time from its own values: the same tokens give the
  // same stored KV whatever else is in the batch, up to the f32 rounding of different kernels.
  bool per_position() const {
    const std::string t = GetParam().type;
    return t == "f32" || t == "f16" || t == "bf16" || t == "q8_0";
  }
};

GenerationRequest greedy(const std::string& prompt, int32_t n) {
  GenerationRequest r;
  r.prompt = prompt;
  r.sampling = SamplingParams::greedy();
  r.sampling.max_tokens = n;
  return r;
}

ServingResult run(ServingEngine& s, const GenerationRequest& g) {
  std::promise<ServingResult> p;
  s.submit({g, -1}, {.on_token = {}, .on_done = [&](const ServingResult& r) { p.set_value(r); }});
  return p.get_future().get();
}

// A repeated prompt hits the prefix cache in every format and continues exactly as it did when
// computed (the same kernels run the same positions), which is also generate's output.
TEST_P(EngineFormat, PrefixCacheHitsGiveTheComputedOutput) {
  Engine engine(options());
  const KvType type = parse_kv_type(GetParam().type);
  EXPECT_EQ(engine.model_info().kv_format, (KvFormat{type, type, GetParam().rotate}).name());
  const std::string prompt = story_opening() + " She went to the shop and";
  const GenerationResult alone = engine.generate(greedy(prompt, 24));
  ASSERT_EQ(alone.output_ids.size(), 24u);
  ServingEngine serving(engine, {});
  const ServingResult first = run(serving, greedy(prompt, 24));
  const ServingResult second = run(serving, greedy(prompt, 24));
  ASSERT_EQ(first.error, "");
  ASSERT_EQ(second.error, "");
  EXPECT_EQ(first.generation.cached_tokens, 0);
  const int64_t bs = engine.model_info().kv_block_size;
  EXPECT_EQ(second.generation.cached_tokens,
            (static_cast<int64_t>(alone.prompt_ids.size()) - 1) / bs * bs);
  EXPECT_GT(second.generation.cached_tokens, 0);
  EXPECT_EQ(first.generation.output_ids, alone.output_ids);
  EXPECT_EQ(second.generation.output_ids, alone.output_ids);
}

// Under a KV budget of one context, requests are preempted and recomputed; they all finish and
// return every block. Per-position formats give the outputs of running alone.
TEST_P(EngineFormat, PreemptionRecomputesAndReturnsEveryBlock) {
  Engine engine(options(/*kv_blocks=*/0));
  const int64_t one_context = (engine.model_info().n_ctx + engine.model_info().kv_block_size - 1) /
                              engine.model_info().kv_block_size;
  Engine tight(options(one_context));
  std::vector<GenerationRequest> reqs;
  // Five requests of ~60 + 150 positions sharing ~48: far more than the 512 positions of KV.
  for (const std::string& p : prompts_sharing_the_opening(5)) {
    reqs.push_back(greedy(p, 150));
    reqs.back().sampling.ignore_eos = true;
  }
  ServingEngine serving(tight, {});
  std::vector<std::shared_ptr<std::promise<ServingResult>>> done;
  for (const auto& r : reqs) {
    auto p = std::make_shared<std::promise<ServingResult>>();
    serving.submit({r, -1},
                   {.on_token = {}, .on_done = [p](const ServingResult& x) { p->set_value(x); }});
    done.push_back(p);
  }
  int64_t preemptions = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const ServingResult r = done[i]->get_future().get();
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.generation.output_ids.size(), 150u);
    preemptions += r.preemptions;
    if (per_position()) {
      EXPECT_EQ(r.generation.output_ids, engine.generate(reqs[i]).output_ids) << "request " << i;
    }
  }
  EXPECT_GT(preemptions, 0) << "the budget was meant to force preemption";
  for (int i = 0; i < 1000 && serving.stats().running > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const ServingStats st = serving.stats();
  EXPECT_EQ(st.kv_blocks_used, 0);
  EXPECT_EQ(st.kv_blocks_used + st.kv_blocks_cached + st.kv_blocks_free, st.kv_blocks_total);
}

// Packed, padded and single prefill of a batch job give the same greedy outputs (per-position
// formats; the others at least complete every request).
TEST_P(EngineFormat, BatchModesAgree) {
  Engine engine(options());
  std::vector<GenerationRequest> reqs;
  for (const std::string& p : prompts_sharing_the_opening(5)) reqs.push_back(greedy(p, 12));
  std::vector<std::vector<BatchItemResult>> by_mode;
  for (PrefillMode mode : {PrefillMode::Packed, PrefillMode::Padded, PrefillMode::Single}) {
    BatchOptions bo;
    bo.mode = mode;
    by_mode.push_back(engine.generate_batch(reqs, bo));
    for (const BatchItemResult& r : by_mode.back()) {
      ASSERT_EQ(r.error, "") << prefill_mode_name(mode);
      EXPECT_FALSE(r.result.output_ids.empty());
    }
  }
  if (!per_position()) return;
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(by_mode[0][i].result.output_ids, by_mode[2][i].result.output_ids) << i;
    EXPECT_EQ(by_mode[1][i].result.output_ids, by_mode[2][i].result.output_ids) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, EngineFormat,
                         ::testing::Values(FormatCase{"f32", false}, FormatCase{"f16", false},
                                           FormatCase{"bf16", false}, FormatCase{"q8_0", false},
                                           FormatCase{"q4_0", false}, FormatCase{"kivi4", false},
                                           FormatCase{"kivi2", false}, FormatCase{"q8_0", true},
                                           FormatCase{"q4_0", true}, FormatCase{"kivi2", true}),
                         case_name);

// The same prompt in two formats: a disk tier shared by both never hands one format's blocks to
// the other (the chain keys start from the format).
TEST(KvFormatIsolation, DiskBlocksOfAnotherFormatAreNeverUsed) {
  const std::string dir = build_dir() + "/kv_formats_disk";
  std::filesystem::remove_all(dir);
  const std::string prompt = story_opening() + " Then the dog";
  for (const char* type : {"f16", "q8_0", "f16"}) {
    EngineOptions o;
    o.model_path = stories();
    o.n_threads = 2;
    o.kv_type = type;
    o.kv_disk_dir = dir;
    Engine engine(o);
    const GenerationResult r = engine.generate(greedy(prompt, 4));
    if (std::string(type) == "q8_0") {
      EXPECT_EQ(r.cached_tokens, 0) << "f16 blocks were offered";
    }
  }
  // The third run (f16 again) finds the first run's blocks.
  EngineOptions o;
  o.model_path = stories();
  o.kv_type = "f16";
  o.kv_disk_dir = dir;
  Engine engine(o);
  EXPECT_GT(engine.generate(greedy(prompt, 4)).cached_tokens, 0);
}

TEST(KvFormatErrors, EngineRefusesUnknownTypesAndUnsupportedShapes) {
  EngineOptions o;
  o.model_path = stories();
  o.kv_type = "q3";
  try {
    Engine e(o);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("kivi2"), std::string::npos) << e.what();
  }
  o.kv_type = "kivi4";
  o.kv_block_size = 12;
  EXPECT_THROW(Engine e(o), InvalidArgument);
  o.kv_block_size = 0;
  Engine e(o);
  EXPECT_EQ(e.model_info().kv_block_size, 32) << "KIVI keys default to blocks of 32";
}

// The memory report (packinfer bench) lists activation buffers sized by the step, not by the
// context (MOM), and the KV memory actually written.
TEST(MemoryReport, ActivationsFollowTheStepAndKvTheTokensWritten) {
  EngineOptions o;
  o.model_path = stories();
  o.n_threads = 2;
  o.kv_type = "f16";
  Engine engine(o);
  auto bytes_of = [&](const std::string& prefix) {
    for (const MemoryItem& m : engine.memory_report())
      if (m.name.rfind(prefix, 0) == 0) return m.bytes;
    ADD_FAILURE() << "no memory item " << prefix;
    return int64_t{-1};
  };
  const ModelInfo& info = engine.model_info();
  GenerationRequest req;
  req.prompt_ids.assign(200, 5);
  req.sampling = SamplingParams::greedy();
  req.sampling.max_tokens = 1;
  engine.generate(req);
  // One buffer holds the attention's q, k, v, then the MLP's gate and up (200 rows here: F32
  // weights do not take the panel GEMM's shorter mini-sequences).
  const int64_t kv_dim = int64_t{info.n_head_kv} * (info.n_embd / info.n_head);
  const int64_t gate = bytes_of("queries q");
  EXPECT_EQ(gate, int64_t{200} * std::max(info.n_embd + 2 * kv_dim, 2 * int64_t{info.n_ff}) * 4);
  EXPECT_EQ(bytes_of("residual stream x"), int64_t{200} * info.n_embd * 4);
  const int64_t blocks = (200 + info.kv_block_size - 1) / info.kv_block_size;
  EXPECT_EQ(bytes_of("KV cache: blocks written"),
            static_cast<int64_t>(blocks * info.kv_block_size * info.kv_bytes_per_token));
  // A second, different prompt of the same length: same activations, and the first one's
  // blocks, released, are written again rather than new memory.
  req.prompt_ids.assign(200, 7);
  engine.generate(req);
  EXPECT_EQ(bytes_of("queries q"), gate);
  EXPECT_EQ(bytes_of("KV cache: blocks written"),
            static_cast<int64_t>(blocks * info.kv_block_size * info.kv_bytes_per_token));
}

}  // namespace
}  // namespace packinfer::test
