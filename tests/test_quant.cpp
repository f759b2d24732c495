// Weight-type kernels: every level's against the scalar reference on random blocks, and the scalar
// reference against real llama.cpp-quantized files (which proves the bit layouts).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "kernels/fp16.h"
#include "kernels/kernel_table.h"
#include "kernels/quant_blocks.h"
#include "kernels/quantize.h"
#include "kernels/type_kernels.h"
#include "support/isa_levels.h"
#include "support/test_support.h"

namespace packinfer {
namespace {

struct QuantCase {
  GgmlType type;
  int block_elems;
  int block_bytes;
  std::vector<int> f16_offsets;  // where the block's f16 scales are
};

std::vector<QuantCase> quant_cases() {
  return {
      {GgmlType::Q8_0, 32, 34, {0}},      {GgmlType::Q4_0, 32, 18, {0}},
      {GgmlType::Q5_0, 32, 22, {0}},      {GgmlType::Q2_K, 256, 84, {80, 82}},
      {GgmlType::Q4_K, 256, 144, {0, 2}}, {GgmlType::Q5_K, 256, 176, {0, 2}},
      {GgmlType::Q6_K, 256, 210, {208}},
  };
}

std::string case_name(const testing::TestParamInfo<QuantCase>& info) {
  return ggml_type_name(static_cast<uint32_t>(info.param.type));
}

const TypeKernels* scalar_kernels(GgmlType t) { return kernels_for(Isa::Scalar).type(t); }

// Random bytes, except the f16 scales: finite and of the size real files have.
std::vector<uint8_t> random_blocks(const QuantCase& c, int nblocks, std::mt19937& rng) {
  std::vector<uint8_t> bytes(static_cast<size_t>(nblocks) * c.block_bytes);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(1e-4f, 0.05f);
  for (int i = 0; i < nblocks; ++i) {
    for (int off : c.f16_offsets) {
      float v = scale(rng);
      if (rng() & 1) v = -v;
      const uint16_t h = fp32_to_fp16(v);
      std::memcpy(&bytes[static_cast<size_t>(i) * c.block_bytes + off], &h, 2);
    }
  }
  return bytes;
}

class QuantRandom : public testing::TestWithParam<QuantCase> {};

// The scalar dot is the dequantized row dotted in double.
TEST_P(QuantRandom, ScalarDotIsDequantDot) {
  const QuantCase& c = GetParam();
  const TypeKernels* ref = scalar_kernels(c.type);
  std::mt19937 rng(7);
  const auto bytes = random_blocks(c, 5, rng);
  const int64_t n = 5 * c.block_elems;
  std::vector<float> x(n), w(n);
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 13) - 6.0f;
  ref->dequant(bytes.data(), w.data(), n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(w[i]) * x[i];
  EXPECT_FLOAT_EQ(ref->dot(bytes.data(), x.data(), n), static_cast<float>(sum));
}

INSTANTIATE_TEST_SUITE_P(Types, QuantRandom, testing::ValuesIn(quant_cases()), case_name);

// ---- every level against the scalar reference ----------------------------------------------

using LevelCase = std::tuple<Isa, QuantCase>;

class QuantLevel : public testing::TestWithParam<LevelCase> {
 protected:
  void SetUp() override { PACKINFER_REQUIRE_LEVEL(level()); }
  Isa level() const { return std::get<0>(GetParam()); }
  const QuantCase& qcase() const { return std::get<1>(GetParam()); }
  const TypeKernels* kernels() const { return kernels_for(level()).type(qcase().type); }
};

std::string level_case_name(const testing::TestParamInfo<LevelCase>& info) {
  return std::string(isa_name(std::get<0>(info.param))) + "_" +
         ggml_type_name(static_cast<uint32_t>(std::get<1>(info.param).type));
}

TEST_P(QuantLevel, DequantMatchesScalarExactly) {
  const QuantCase& c = qcase();
  const TypeKernels* ref = scalar_kernels(c.type);
  const TypeKernels* simd = kernels();
  ASSERT_NE(ref, nullptr);
  ASSERT_NE(simd, nullptr);
  std::mt19937 rng(1234);
  for (int nblocks : {1, 2, 3, 7, 64}) {
    for (int rep = 0; rep < 20; ++rep) {
      const auto bytes = random_blocks(c, nblocks, rng);
      const int64_t n = static_cast<int64_t>(nblocks) * c.block_elems;
      std::vector<float> a(n), b(n);
      ref->dequant(bytes.data(), a.data(), n);
      simd->dequant(bytes.data(), b.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_TRUE(std::isfinite(a[i]));
        ASSERT_EQ(a[i], b[i]) << "element " << i << " of " << n;
      }
    }
  }
}

TEST_P(QuantLevel, DotMatchesScalar) {
  const QuantCase& c = qcase();
  const TypeKernels* ref = scalar_kernels(c.type);
  const TypeKernels* simd = kernels();
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> xd(-1.0f, 1.0f);
  for (int nblocks : {1, 2, 3, 7, 64}) {
    for (int rep = 0; rep < 20; ++rep) {
      const auto bytes = random_blocks(c, nblocks, rng);
      const int64_t n = static_cast<int64_t>(nblocks) * c.block_elems;
      std::vector<float> x(n), w(n);
      for (auto& v : x) v = xd(rng);
      ref->dequant(bytes.data(), w.data(), n);
      // Rounding in float is relative to the magnitude of the terms, not of their sum.
      double mag = 0;
      for (int64_t i = 0; i < n; ++i) mag += std::fabs(static_cast<double>(w[i]) * x[i]);
      const float expect = ref->dot(bytes.data(), x.data(), n);
      const float got = simd->dot(bytes.data(), x.data(), n);
      EXPECT_NEAR(got, expect, 1e-5 * mag + 1e-30) << n << " elements, rep " << rep;
    }
  }
}

// Integer path: the level's dot_act equals the scalar reference up to float rounding, and both
// are within the activation rounding error of the float dot: |x - x_q| <= d_x / 2 per element.
TEST_P(QuantLevel, IntegerPathMatchesFloatDot) {
  const QuantCase& c = qcase();
  const TypeKernels* ref = scalar_kernels(c.type);
  const TypeKernels* simd = kernels();
  ASSERT_NE(ref->quantize_act, nullptr);
  ASSERT_NE(ref->dot_act, nullptr);
  ASSERT_NE(simd->dot_act, nullptr);
  // Every level quantizes activations the same way (they share the act bytes).
  ASSERT_EQ(simd->quantize_act, ref->quantize_act);
  const int act_block = c.block_elems == 32 ? 32 : 256;
  std::mt19937 rng(11);
  std::normal_distribution<float> xd(0.0f, 1.0f);
  for (int nblocks : {1, 2, 3, 8, 64}) {
    for (int rep = 0; rep < 20; ++rep) {
      const auto bytes = random_blocks(c, nblocks, rng);
      const int64_t n = static_cast<int64_t>(nblocks) * c.block_elems;
      std::vector<float> x(n), w(n);
      for (auto& v : x) v = xd(rng);
      if (rep == 1) std::fill(x.begin(), x.end(), 0.0f);  // all-zero activations: d = 0
      std::vector<uint8_t> act(static_cast<size_t>(ref->act_bytes(n)));
      ref->quantize_act(x.data(), act.data(), n);
      ref->dequant(bytes.data(), w.data(), n);
      double mag = 0, bound = 0;
      for (int64_t i = 0; i < n; ++i) {
        mag += std::fabs(static_cast<double>(w[i]) * x[i]);
        float amax = 0;
        const int64_t b0 = i / act_block * act_block;
        for (int64_t k = b0; k < b0 + act_block; ++k) amax = std::max(amax, std::fabs(x[k]));
        bound += std::fabs(w[i]) * (amax / 127.0f) * 0.5;
      }
      const float f = ref->dot(bytes.data(), x.data(), n);
      const float r = ref->dot_act(bytes.data(), act.data(), n);
      const float v = simd->dot_act(bytes.data(), act.data(), n);
      EXPECT_NEAR(v, r, 1e-5 * mag + 1e-30) << n << " elements, rep " << rep;
      EXPECT_NEAR(r, f, bound * 1.01 + 1e-6 * mag + 1e-30) << n << " elements, rep " << rep;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, QuantLevel,
                         testing::Combine(testing::ValuesIn(test::all_levels()),
                                          testing::ValuesIn(quant_cases())),
                         level_case_name);

// F32, F16 and BF16 rows of any length (no blocks): tails shorter than any vector width.
class TypeLevel : public test::LevelTest {};

TEST_P(TypeLevel, FloatTypesMatchScalar) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> xd(-1.0f, 1.0f);
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    const TypeKernels* ref = scalar_kernels(t);
    const TypeKernels* simd = kt().type(t);
    ASSERT_NE(simd, nullptr);
    for (int64_t n : {1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 1000}) {
      std::vector<uint8_t> row(static_cast<size_t>(n) * (t == GgmlType::F32 ? 4 : 2));
      std::vector<float> x(n), a(n), b(n);
      double mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        const float v = xd(rng);
        float w = v;
        if (t == GgmlType::F32) {
          std::memcpy(&row[i * 4], &v, 4);
        } else if (t == GgmlType::F16) {
          const uint16_t h = fp32_to_fp16(v);
          std::memcpy(&row[i * 2], &h, 2);
          w = fp16_to_fp32(h);
        } else {
          uint32_t bits;
          std::memcpy(&bits, &v, 4);
          const uint16_t h = static_cast<uint16_t>(bits >> 16);
          std::memcpy(&row[i * 2], &h, 2);
          w = bf16_to_fp32(h);
        }
        x[i] = xd(rng);
        mag += std::fabs(static_cast<double>(w) * x[i]);
      }
      const std::string what = ggml_type_name(static_cast<uint32_t>(t)) + " n=" + std::to_string(n);
      ref->dequant(row.data(), a.data(), n);
      simd->dequant(row.data(), b.data(), n);
      EXPECT_EQ(a, b) << what;
      EXPECT_NEAR(simd->dot(row.data(), x.data(), n), ref->dot(row.data(), x.data(), n), 1e-5 * mag)
          << what;
    }
  }
}

// Bit-exact round trip of a hand-made block pins down the documented element order.
TEST_P(TypeLevel, Q4_0ElementOrder) {
  BlockQ4_0 b{};
  b.d = fp32_to_fp16(1.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>((j & 0xF) | ((15 - j) << 4));
  float y[32];
  kt().type(GgmlType::Q4_0)->dequant(&b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], j - 8.0f);
    EXPECT_EQ(y[j + 16], 7.0f - j);
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, TypeLevel, testing::ValuesIn(test::all_levels()),
                         test::level_param_name);

TEST(Quant, QuantizeQ8_0RoundTrip) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> x(4096), y(4096);
  for (auto& v : x) v = nd(rng);
  std::vector<BlockQ8_0> q(x.size() / 32);
  quantize_row_q8_0(x.data(), q.data(), static_cast<int64_t>(x.size()));
  dequantize_row(GgmlType::Q8_0, q.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const float d = fp16_to_fp32(q[i / 32].d);
    // Half a step, plus the f16 rounding of d (up to 127 * d * 2^-11).
    EXPECT_LE(std::fabs(x[i] - y[i]), 0.57f * d + 1e-7f);
  }
}

TEST(Quant, QuantizeQ4_0RoundTrip) {
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> x(4096), y(4096);
  for (auto& v : x) v = nd(rng);
  std::vector<BlockQ4_0> q(x.size() / 32);
  quantize_row_q4_0(x.data(), q.data(), static_cast<int64_t>(x.size()));
  dequantize_row(GgmlType::Q4_0, q.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const float d = std::fabs(fp16_to_fp32(q[i / 32].d));
    // Half a step, except that values near +8 steps are clamped to +7 (a full step).
    EXPECT_LE(std::fabs(x[i] - y[i]), 1.01f * d + 1e-7f) << i;
  }
}

// ---- Real files ----------------------------------------------------------------------------
// The K-quant files were made by llama.cpp's quantizer from the synthetic tiny f32 model, so
// dequantizing them must give back that model up to the quantization error of each bit width. A
// wrong bit layout gives errors of ~100% or more.

std::vector<float> dequant_tensor(const gguf::TensorInfo& t, Isa isa) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  const TypeKernels* k = kernels_for(isa).type(t.ggml_type());
  EXPECT_NE(k, nullptr) << t.name;
  if (k != nullptr) k->dequant(t.data, out.data(), t.n_elements());
  return out;
}

double rel_rms(const std::vector<float>& got, const float* want, size_t n) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < n; ++i) {
    const double e = static_cast<double>(got[i]) - want[i];
    err += e * e;
    ref += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(err / ref);
}

const gguf::File& f32_model() {
  static std::unique_ptr<gguf::File> f = gguf::File::open(test::synth_model("tiny", "f32"));
  return *f;
}

const float* f32_data(const std::string& name) {
  const gguf::TensorInfo* t = f32_model().find_tensor(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return nullptr;
  EXPECT_EQ(t->ggml_type(), GgmlType::F32);
  return reinterpret_cast<const float*>(t->data);
}

// On real scales: the dots of a few rows (float and integer path of a level) agree with the
// dequantized row dotted in double, within float rounding / the activation rounding bound.
void check_row_dots(const gguf::TensorInfo& t, const std::vector<float>& w, Isa isa) {
  const int64_t cols = t.ne[0], rows = t.n_elements() / cols;
  const auto traits = *ggml_type_traits(t.type);
  const TypeKernels* k = kernels_for(isa).type(t.ggml_type());
  std::vector<float> x(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) x[i] = std::sin(0.37 * static_cast<double>(i) + 1.0);
  std::vector<uint8_t> act(static_cast<size_t>(k->act_bytes(cols)));
  k->quantize_act(x.data(), act.data(), cols);
  for (int64_t r = 0; r < rows; r += std::max<int64_t>(1, rows / 7)) {
    const uint8_t* row = t.data + r * ggml_row_size(traits, cols);
    double want = 0, mag = 0, wsum = 0;
    for (int64_t i = 0; i < cols; ++i) {
      want += static_cast<double>(w[r * cols + i]) * x[i];
      mag += std::fabs(static_cast<double>(w[r * cols + i]) * x[i]);
      wsum += std::fabs(w[r * cols + i]);
    }
    EXPECT_NEAR(k->dot(row, x.data(), cols), want, 1e-5 * mag)
        << t.name << " row " << r << " " << isa_name(isa);
    // |x| <= 1, so the activation step is at most 1/127 per block.
    EXPECT_NEAR(k->dot_act(row, act.data(), cols), want, wsum / 254 + 1e-5 * mag)
        << t.name << " row " << r << " " << isa_name(isa);
  }
}

// Worst relative RMS error per tensor type over the file, checking on the way that every level
// this machine runs dequantizes exactly as the scalar reference and dots within rounding.
std::map<GgmlType, double> kquant_errors(const std::string& file) {
  auto q = gguf::File::open(test::shared_dir() + "/models/synthetic/" + file);
  std::map<GgmlType, double> worst;
  for (const gguf::TensorInfo& t : q->tensors()) {
    if (t.ggml_type() == GgmlType::F32) continue;
    const std::vector<float> w = dequant_tensor(t, Isa::Scalar);
    for (Isa isa : kAllIsas) {
      if (!isa_supported(isa)) continue;
      if (isa != Isa::Scalar) {
        const std::vector<float> v = dequant_tensor(t, isa);
        EXPECT_EQ(std::memcmp(w.data(), v.data(), w.size() * sizeof(float)), 0)
            << t.name << " " << isa_name(isa);
      }
      check_row_dots(t, w, isa);
    }
    const float* ref = f32_data(t.name);
    if (ref == nullptr) continue;
    const double e = rel_rms(w, ref, w.size());
    worst[t.ggml_type()] = std::max(worst[t.ggml_type()], e);
  }
  return worst;
}

// Measured worst relative RMS errors on these files (identical in all three for shared types):
// Q2_K 0.276, Q4_K 0.065, Q5_K 0.033, Q6_K 0.016 -- each extra bit halves the error, as it
// should. The bounds leave ~25% headroom; a wrong layout gives 100% or more.
void expect_bounds(const std::map<GgmlType, double>& worst,
                   const std::map<GgmlType, double>& bound) {
  for (const auto& [type, b] : bound) {
    const std::string name = ggml_type_name(static_cast<uint32_t>(type));
    ASSERT_TRUE(worst.count(type)) << "file has no " << name << " tensor";
    testing::Test::RecordProperty("rel_rms_" + name, std::to_string(worst.at(type)));
    std::printf("  %s: worst relative RMS error %.4f (bound %.3f)\n", name.c_str(), worst.at(type),
                b);
    EXPECT_LT(worst.at(type), b) << name;
  }
  EXPECT_EQ(worst.size(), bound.size());
}

TEST(QuantModels, Q4_K_M) {
  expect_bounds(kquant_errors("tiny-Q4_K_M.gguf"),
                {{GgmlType::Q2_K, 0.35}, {GgmlType::Q4_K, 0.08}, {GgmlType::Q6_K, 0.02}});
}

TEST(QuantModels, Q5_K_M) {
  expect_bounds(kquant_errors("tiny-Q5_K_M.gguf"),
                {{GgmlType::Q2_K, 0.35}, {GgmlType::Q5_K, 0.04}, {GgmlType::Q6_K, 0.02}});
}

TEST(QuantModels, Q6_K) {
  expect_bounds(kquant_errors("tiny-Q6_K.gguf"), {{GgmlType::Q2_K, 0.35}, {GgmlType::Q6_K, 0.02}});
}

// Round trip of every f32 matrix through our reference quantizers.
TEST(QuantModels, Q8_0AndQ4_0RoundTripOfF32Model) {
  double worst8 = 0, worst4 = 0;
  for (const gguf::TensorInfo& t : f32_model().tensors()) {
    if (t.ne.size() != 2) continue;
    const int64_t n = t.n_elements();
    const float* x = reinterpret_cast<const float*>(t.data);
    std::vector<uint8_t> q(static_cast<size_t>(n / 32 * 34));
    std::vector<float> y(static_cast<size_t>(n));
    quantize_row_q8_0(x, q.data(), n);
    dequantize_row(GgmlType::Q8_0, q.data(), y.data(), n);
    worst8 = std::max(worst8, rel_rms(y, x, y.size()));
    quantize_row_q4_0(x, q.data(), n);
    dequantize_row(GgmlType::Q4_0, q.data(), y.data(), n);
    worst4 = std::max(worst4, rel_rms(y, x, y.size()));
  }
  std::printf("  Q8_0 round trip: %.4f, Q4_0: %.4f\n", worst8, worst4);
  EXPECT_LT(worst8, 0.006);  // measured 0.0047
  EXPECT_LT(worst4, 0.095);  // measured 0.0763
}

// tiny-q8_0 / tiny-q4_0 are independent random models: the matrices drawn with std 0.02 must
// come back finite with that std.
void check_std(const std::string& dtype) {
  auto f = gguf::File::open(test::synth_model("tiny", dtype));
  int checked = 0;
  for (const gguf::TensorInfo& t : f->tensors()) {
    if (t.ne.size() != 2) continue;
    const bool std002 =
        t.name == "token_embd.weight" || t.name.find("attn_v") != std::string::npos ||
        t.name.find("ffn_gate") != std::string::npos || t.name.find("ffn_up") != std::string::npos;
    const std::vector<float> w = dequant_tensor(t, active_isa());
    double s = 0, s2 = 0;
    for (float v : w) {
      ASSERT_TRUE(std::isfinite(v)) << t.name;
      s += v;
      s2 += static_cast<double>(v) * v;
    }
    const double mean = s / w.size(), sd = std::sqrt(s2 / w.size() - mean * mean);
    if (std002) {
      EXPECT_NEAR(sd, 0.02, 0.002) << t.name;
      EXPECT_NEAR(mean, 0.0, 0.001) << t.name;
      ++checked;
    }
  }
  EXPECT_GE(checked, 13);
}

TEST(QuantModels, TinyQ8_0HasExpectedStatistics) { check_std("q8_0"); }
TEST(QuantModels, TinyQ4_0HasExpectedStatistics) { check_std("q4_0"); }

}  // namespace
}  // namespace packinfer
