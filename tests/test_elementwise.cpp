// Element-wise kernels: every level's against the scalar references, and the references against
// direct double-precision formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/kernel_table.h"
#include "support/isa_levels.h"

namespace packinfer {
namespace {

using test::LevelTest;

std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -2.0f, float hi = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

const KernelTable& scalar() { return kernels_for(Isa::Scalar); }

TEST(RmsNorm, ScalarMatchesFormula) {
  for (int64_t n : {1, 7, 64, 576, 1001}) {
    const int64_t rows = 3;
    auto x = random_vec(rows * n, 1);
    auto w = random_vec(n, 2);
    std::vector<float> y(rows * n);
    scalar().rms_norm(x.data(), w.data(), y.data(), rows, n, 1e-5f);
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0.0;
      for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[r * n + i]) * x[r * n + i];
      const double scale = 1.0 / std::sqrt(ss / n + 1e-5);
      for (int64_t i = 0; i < n; ++i) {
        const double want = x[r * n + i] * scale * w[i];
        EXPECT_NEAR(y[r * n + i], want, 1e-6 * std::max(1.0, std::abs(want)));
      }
    }
  }
}

TEST(RmsNorm, KnownValue) {
  // x = (3, 4): mean of squares 12.5, scale 1/sqrt(12.5) with eps 0.
  const float x[2] = {3.0f, 4.0f}, w[2] = {1.0f, 2.0f};
  float y[2];
  rms_norm(x, w, y, 1, 2, 0.0f);
  EXPECT_FLOAT_EQ(y[0], 3.0f / std::sqrt(12.5f));
  EXPECT_FLOAT_EQ(y[1], 8.0f / std::sqrt(12.5f));
}

// Direct formula in double: theta_k = pos * base^(-2k/head_dim).
void rope_reference(std::vector<double>& x, int head_dim, int pos, double base, RopeStyle style) {
  const int half = head_dim / 2;
  for (int k = 0; k < half; ++k) {
    const double th = pos * std::pow(base, -2.0 * k / head_dim);
    const int ia = style == RopeStyle::Normal ? 2 * k : k;
    const int ib = style == RopeStyle::Normal ? 2 * k + 1 : k + half;
    const double x0 = x[ia], x1 = x[ib];
    x[ia] = x0 * std::cos(th) - x1 * std::sin(th);
    x[ib] = x0 * std::sin(th) + x1 * std::cos(th);
  }
}

TEST(Rope, ScalarMatchesDoubleFormula) {
  const int n_heads = 3;
  for (RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX}) {
    for (int hd : {2, 6, 64, 128}) {
      std::vector<int32_t> pos = {0, 1, 2, 7, 100, 1000, 4000};
      const int64_t stride = n_heads * hd + 4;
      auto x = random_vec(pos.size() * stride, 5);
      auto orig = x;
      scalar().rope(x.data(), pos.size(), stride, n_heads, hd, pos.data(), 10000.0f, style);
      for (size_t t = 0; t < pos.size(); ++t) {
        for (int h = 0; h < n_heads; ++h) {
          const int64_t off = t * stride + h * hd;
          std::vector<double> ref(orig.begin() + off, orig.begin() + off + hd);
          rope_reference(ref, hd, pos[t], 10000.0, style);
          // theta is built in float by repeated multiplication (as llama.cpp does), so pair k's
          // angle carries up to ~(k + 1) float roundings of theta_k; the rotation turns that
          // angle error into an error of |x| * dtheta.
          for (int k = 0; k < hd / 2; ++k) {
            const int ia = style == RopeStyle::Normal ? 2 * k : k;
            const int ib = style == RopeStyle::Normal ? 2 * k + 1 : k + hd / 2;
            const double th = pos[t] * std::pow(10000.0, -2.0 * k / hd);
            const double mag = std::abs(orig[off + ia]) + std::abs(orig[off + ib]);
            const double tol = (th * (k + 1) * 1.2e-7 + 1e-6) * mag + 1e-7;
            EXPECT_NEAR(x[off + ia], ref[ia], tol)
                << "hd " << hd << " pos " << pos[t] << " k " << k;
            EXPECT_NEAR(x[off + ib], ref[ib], tol)
                << "hd " << hd << " pos " << pos[t] << " k " << k;
          }
        }
        for (int64_t c = n_heads * hd; c < stride; ++c)
          EXPECT_EQ(x[t * stride + c], orig[t * stride + c]);
      }
    }
  }
}

TEST(Rope, Pairings) {
  // Only x[1] is set; at pos 1, theta_k = base^(-2k/hd).
  const int hd = 8;
  const int32_t pos = 1;
  const float base = 100.0f;
  const double th0 = 1.0, th1 = std::pow(100.0, -2.0 / hd);
  std::vector<float> n(hd, 0.0f), x(hd, 0.0f);
  n[1] = x[1] = 1.0f;
  scalar().rope(n.data(), 1, hd, 1, hd, &pos, base, RopeStyle::Normal);
  scalar().rope(x.data(), 1, hd, 1, hd, &pos, base, RopeStyle::NeoX);
  // Normal: x[1] is the second of pair (0, 1), angle theta_0.
  EXPECT_NEAR(n[0], -std::sin(th0), 1e-6);
  EXPECT_NEAR(n[1], std::cos(th0), 1e-6);
  for (int d = 2; d < hd; ++d) EXPECT_EQ(n[d], 0.0f);
  // NeoX: x[1] is the first of pair (1, 1 + hd/2), angle theta_1.
  EXPECT_NEAR(x[1], std::cos(th1), 1e-6);
  EXPECT_NEAR(x[1 + hd / 2], std::sin(th1), 1e-6);
  for (int d : {0, 2, 3, 4, 6, 7}) EXPECT_EQ(x[d], 0.0f);
}

TEST(Rope, NeoXIsNormalOnPermutedHead) {
  // NeoX on x equals Normal on x reordered as (x0, x_h, x1, x_{h+1}, ...), bit for bit.
  const int hd = 64, half = hd / 2;
  const int32_t pos[2] = {5, 777};
  auto x = random_vec(2 * hd, 6);
  std::vector<float> p(2 * hd);
  for (int t = 0; t < 2; ++t)
    for (int k = 0; k < half; ++k) {
      p[t * hd + 2 * k] = x[t * hd + k];
      p[t * hd + 2 * k + 1] = x[t * hd + k + half];
    }
  rope(x.data(), 2, hd, 1, hd, pos, 10000.0f, RopeStyle::NeoX);
  rope(p.data(), 2, hd, 1, hd, pos, 10000.0f, RopeStyle::Normal);
  for (int t = 0; t < 2; ++t)
    for (int k = 0; k < half; ++k) {
      EXPECT_EQ(x[t * hd + k], p[t * hd + 2 * k]);
      EXPECT_EQ(x[t * hd + k + half], p[t * hd + 2 * k + 1]);
    }
}

// The dispatchers run the active level's table.
TEST(Dispatch, UsesActiveLevel) {
  auto x = random_vec(1001, 12);
  auto w = random_vec(1001, 13);
  std::vector<float> a(1001), b(1001);
  rms_norm(x.data(), w.data(), a.data(), 1, 1001, 1e-5f);
  active_kernels().rms_norm(x.data(), w.data(), b.data(), 1, 1001, 1e-5f);
  EXPECT_EQ(a, b);
  EXPECT_EQ(active_kernels().isa, active_isa());
}

// ---- every level against the scalar reference ----------------------------------------------

class ElementwiseLevel : public LevelTest {};

TEST_P(ElementwiseLevel, RmsNormMatchesScalarAndAliases) {
  for (int64_t n : {1, 7, 8, 15, 16, 17, 64, 576, 1001}) {
    const int64_t rows = 4;
    auto x = random_vec(rows * n, 3);
    auto w = random_vec(n, 4);
    std::vector<float> a(rows * n), b = x;
    scalar().rms_norm(x.data(), w.data(), a.data(), rows, n, 1e-6f);
    kt().rms_norm(b.data(), w.data(), b.data(), rows, n, 1e-6f);  // in place
    // Same float operations; only the order of the double sum differs.
    for (int64_t i = 0; i < rows * n; ++i)
      ASSERT_NEAR(b[i], a[i], 1e-7f * std::abs(a[i])) << "n " << n << " i " << i;
  }
}

TEST_P(ElementwiseLevel, RopeMatchesScalarExactly) {
  for (RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX}) {
    for (int hd : {2, 6, 10, 16, 24, 34, 64, 80, 128, 1030}) {
      const int n_heads = 5, n_tok = 9;
      const int64_t stride = n_heads * hd + 3;
      std::vector<int32_t> pos = {0, 3, 17, 100, 511, 1024, 2047, 4095, 32000};
      auto a = random_vec(n_tok * stride, 7);
      auto b = a;
      scalar().rope(a.data(), n_tok, stride, n_heads, hd, pos.data(), 1000000.0f, style);
      kt().rope(b.data(), n_tok, stride, n_heads, hd, pos.data(), 1000000.0f, style);
      for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "hd " << hd << " i " << i;
    }
  }
}

TEST_P(ElementwiseLevel, SwigluMatchesDouble) {
  for (int64_t n : {1, 7, 16, 17, 1037}) {
    auto g = random_vec(n, 8, -20.0f, 20.0f);
    auto u = random_vec(n, 9);
    if (n > 4) {
      g[0] = -100.0f;
      g[1] = 100.0f;
      g[2] = 0.0f;
      g[3] = -87.5f;
    }
    std::vector<float> b = g;
    kt().swiglu(b.data(), u.data(), b.data(), n);  // aliasing gate
    for (int64_t i = 0; i < n; ++i) {
      const double x = g[i];
      const double want = x / (1.0 + std::exp(-x)) * u[i];
      EXPECT_NEAR(b[i], want, 1e-6 * std::abs(want) + 1e-30) << "n " << n << " x=" << x;
    }
  }
}

TEST_P(ElementwiseLevel, SwigluExpAccuracySweep) {
  // With up = 1 and gate in [-80, 10], silu's relative error is exp's relative error scaled by
  // e/(1+e) <= 1, so this bounds the level's exp (a polynomial in the SIMD levels).
  const int64_t n = 100000;
  std::vector<float> g(n), u(n, 1.0f), y(n);
  for (int64_t i = 0; i < n; ++i) g[i] = -80.0f + 90.0f * static_cast<float>(i) / n;
  kt().swiglu(g.data(), u.data(), y.data(), n);
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = g[i];
    const double want = x / (1.0 + std::exp(-x));
    if (want != 0.0) worst = std::max(worst, std::abs(y[i] - want) / std::abs(want));
  }
  std::printf("swiglu %s worst relative error: %.3g\n", std::string(isa_name(level())).c_str(),
              worst);
  EXPECT_LT(worst, 1e-6);
}

// An element's result does not depend on its place in the array (body or tail), so the MLP's
// mini-sequences of any size give the same bits.
TEST_P(ElementwiseLevel, SwigluOfAnElementDoesNotDependOnItsPlace) {
  const int64_t n = 37;
  auto g = random_vec(n, 12);
  auto u = random_vec(n, 13);
  for (float& x : g) x *= 8.0f;
  std::vector<float> all(n);
  kt().swiglu(g.data(), u.data(), all.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    float alone = 0.0f;
    kt().swiglu(g.data() + i, u.data() + i, &alone, 1);
    EXPECT_EQ(alone, all[static_cast<size_t>(i)]) << "element " << i;
  }
}

TEST_P(ElementwiseLevel, AddInplaceMatchesScalar) {
  for (int64_t n : {0, 1, 9, 16, 17, 100}) {
    auto y = random_vec(n, 10);
    auto x = random_vec(n, 11);
    auto want = y;
    for (int64_t i = 0; i < n; ++i) want[i] += x[i];
    kt().add_inplace(y.data(), x.data(), n);
    EXPECT_EQ(y, want) << "n " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, ElementwiseLevel, testing::ValuesIn(test::all_levels()),
                         test::level_param_name);

}  // namespace
}  // namespace packinfer
