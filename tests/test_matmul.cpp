// matmul_with / matmul_ex against matmul_reference for every weight type the library can compute
// with and every instruction-set level, over decode (GEMV) and prefill (GEMM) shapes including
// tile edges (M = 1, 3, 17, 513; K not a multiple of the SIMD width or K block), 1 and 2
// threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/gemm_int8_layout.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kernels/quant_blocks.h"
#include "kernels/scalar/scalar_kernels.h"
#include "kernels/type_kernels.h"
#include "kernels/weight_panels.h"
#include "support/isa_levels.h"

namespace packinfer {
namespace {

struct Weights {
  std::vector<uint8_t> bytes;
  Panels panels;  // when the weights are also repacked, as a model loader does
  WeightMatrix w;
};

// Valid random rows of type t, or false if this test cannot make them. F32/F16/BF16 round random
// floats. Other types get random block bytes, each block re-drawn until it dequantizes to finite,
// moderate values: that exercises every bit of the format without needing a quantizer. (There is
// no reference quantizer in the library; writing one here would test it rather than matmul.)
bool make_weights(GgmlType t, int64_t N, int64_t K, std::mt19937& rng, Weights& out) {
  const auto traits = ggml_type_traits(static_cast<uint32_t>(t));
  const TypeKernels* tk = kernels_for(Isa::Scalar).type(t);
  if (!traits || tk == nullptr || K % traits->block_size != 0) return false;
  const int64_t row_bytes = ggml_row_size(*traits, K);
  out.bytes.assign(static_cast<size_t>(N * row_bytes), 0);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  for (int64_t i = 0; i < N * K; ++i) {
    const float v = uni(rng);
    uint8_t* p = out.bytes.data();
    if (t == GgmlType::F32) {
      std::memcpy(p + i * 4, &v, 4);
    } else if (t == GgmlType::F16) {
      const uint16_t h = fp32_to_fp16(v);
      std::memcpy(p + i * 2, &h, 2);
    } else if (t == GgmlType::BF16) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      const uint16_t h = static_cast<uint16_t>(bits >> 16);  // truncation is a valid bf16
      std::memcpy(p + i * 2, &h, 2);
    } else {
      break;
    }
  }
  if (t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::BF16) {
    std::vector<float> vals(static_cast<size_t>(traits->block_size));
    std::uniform_int_distribution<int> byte(0, 255);
    const int64_t blocks = N * K / traits->block_size;
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t* blk = out.bytes.data() + b * traits->type_size;
      bool ok = false;
      for (int attempt = 0; attempt < 1000 && !ok; ++attempt) {
        for (int64_t i = 0; i < traits->type_size; ++i) blk[i] = static_cast<uint8_t>(byte(rng));
        tk->dequant(blk, vals.data(), traits->block_size);
        ok = true;
        for (float v : vals) ok = ok && std::isfinite(v) && std::fabs(v) < 1e6f;
      }
      if (!ok) return false;
    }
  }
  out.w = WeightMatrix{t, out.bytes.data(), N, K, row_bytes};
  return true;
}

// Types this test can generate rows for (at least one K of the sweep).
std::vector<GgmlType> testable_types() {
  std::vector<GgmlType> types;
  std::mt19937 rng(1);
  for (uint32_t id = 0; id < 64; ++id) {
    if (!ggml_type_traits(id)) continue;
    const GgmlType t = static_cast<GgmlType>(id);
    Weights probe;
    if (kernels_for(Isa::Scalar).type(t) != nullptr && make_weights(t, 1, 256, rng, probe))
      types.push_back(t);
  }
  return types;
}

ThreadPool& pool_of(int threads) {
  static ThreadPool one(1), two(2);
  return threads == 1 ? one : two;
}

// Per-element error bound: f32 accumulation over K terms, relative to sum_k |x||w| of that
// output (the error scale of any summation order).
std::vector<double> error_scale(const WeightMatrix& w, const std::vector<float>& x, int64_t M) {
  const TypeKernels* tk = kernels_for(Isa::Scalar).type(w.type);
  std::vector<float> row(static_cast<size_t>(w.cols));
  std::vector<double> scale(static_cast<size_t>(M * w.rows));
  for (int64_t n = 0; n < w.rows; ++n) {
    tk->dequant(w.row(n), row.data(), w.cols);
    for (int64_t m = 0; m < M; ++m) {
      double s = 0;
      for (int64_t k = 0; k < w.cols; ++k)
        s += std::fabs(static_cast<double>(row[k]) * x[m * w.cols + k]);
      scale[m * w.rows + n] = s;
    }
  }
  return scale;
}

// The error the integer path adds by rounding x to int8 per block (32 elements, 256 for the
// K-quants) with d = amax / 127: at most sum_k |w_k| * d_block(k) / 2. Zero for types without
// an integer path.
std::vector<double> act_rounding_bound(const WeightMatrix& w, const std::vector<float>& x,
                                       int64_t M) {
  const TypeKernels* tk = kernels_for(Isa::Scalar).type(w.type);
  std::vector<double> bound(static_cast<size_t>(M * w.rows), 0.0);
  if (tk->dot_act == nullptr) return bound;
  const int64_t block = ggml_type_traits(static_cast<uint32_t>(w.type))->block_size;
  std::vector<float> row(static_cast<size_t>(w.cols));
  std::vector<double> d(static_cast<size_t>(w.cols));
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t b0 = 0; b0 < w.cols; b0 += block) {
      float amax = 0;
      for (int64_t k = b0; k < b0 + block; ++k) amax = std::max(amax, std::fabs(x[m * w.cols + k]));
      for (int64_t k = b0; k < b0 + block; ++k) d[k] = amax / 127.0;
    }
    for (int64_t n = 0; n < w.rows; ++n) {
      tk->dequant(w.row(n), row.data(), w.cols);
      double s = 0;
      for (int64_t k = 0; k < w.cols; ++k) s += std::fabs(static_cast<double>(row[k])) * d[k];
      bound[m * w.rows + n] = 0.5 * 1.01 * s;
    }
  }
  return bound;
}

// Level, weight type, and whether F16 weights are repacked into panels (weight_panels.h) as the
// model loader does on a level with the panel GEMM: every test below then runs that path.
using LevelType = std::tuple<Isa, GgmlType, bool>;

class MatmulTest : public ::testing::TestWithParam<LevelType> {
 protected:
  void SetUp() override {
    PACKINFER_REQUIRE_LEVEL(level());
    const KernelTable& kt = kernels_for(level());
    const bool has_tile =
        type() == GgmlType::F16 ? kt.gemm_panel_f16 != nullptr : kt.gemm_panel_q8_0 != nullptr;
    if (panels() && !has_tile) {
      GTEST_SKIP() << isa_name(level()) << " has no "
                   << ggml_type_name(static_cast<uint32_t>(type()))
                   << " panel GEMM tile: models keep the GGUF rows there (tested without panels)";
    }
  }
  Isa level() const { return std::get<0>(GetParam()); }
  GgmlType type() const { return std::get<1>(GetParam()); }
  bool panels() const { return std::get<2>(GetParam()); }
  // make_weights, then the panels when the parameter asks for them.
  bool make(int64_t N, int64_t K, std::mt19937& rng, Weights& out) const {
    if (!make_weights(type(), N, K, rng, out)) return false;
    if (panels()) {
      out.panels = pack_panels(out.w);
      out.w.panels = out.panels.data.get();
    }
    return true;
  }
  void run(const WeightMatrix& w, const float* x, int64_t ldx, int64_t M, float* y, int64_t ldy,
           int threads, MatmulActivations act = MatmulActivations::Default) const {
    matmul_with(kernels_for(level()), w, x, ldx, M, y, ldy, pool_of(threads), act);
  }
};

// Level threads, for messages.
std::string where(Isa isa, int threads) {
  return std::string(isa_name(isa)) + " threads=" + std::to_string(threads);
}

constexpr double kRelTol = 1e-5;

TEST_P(MatmulTest, MatchesReferenceOverShapes) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  int checked = 0;
  for (int64_t K : {32, 64, 96, 256, 576}) {
    for (int64_t N : {1, 7, 16, 33, 192, 576}) {
      Weights wt;
      if (!make(N, K, rng, wt)) continue;
      for (int64_t M : {1, 2, 3, 5, 6, 7, 8, 9, 14, 15, 16, 17, 29, 32, 33, 64, 100, 513}) {
        // The blocked GEMM's M and N tiling, K blocks and edges are all reached at N <= 192;
        // M = 513 at N = 576 was over half of this test's time, which runs for every level and
        // type, under ASan too.
        if (M > 128 && N > 192) continue;
        std::vector<float> x(static_cast<size_t>(M * K));
        for (float& v : x) v = uni(rng);
        std::vector<float> ref(static_cast<size_t>(M * N));
        matmul_reference(wt.w, x.data(), M, ref.data());
        const std::vector<double> scale = error_scale(wt.w, x, M);
        const std::vector<double> act_bound = act_rounding_bound(wt.w, x, M);
        for (auto [threads, act] :
             {std::pair{1, MatmulActivations::Int8}, std::pair{2, MatmulActivations::Int8},
              std::pair{2, MatmulActivations::F32}}) {
          std::vector<float> y(static_cast<size_t>(M * N), NAN);
          run(wt.w, x.data(), K, M, y.data(), N, threads, act);
          const bool int8 = act == MatmulActivations::Int8;
          int64_t bad = 0, first = -1;
          for (int64_t i = 0; i < M * N; ++i) {
            const double tol = kRelTol * scale[i] + (int8 ? act_bound[i] : 0.0) + 1e-30;
            if (!(std::fabs(y[i] - ref[i]) <= tol)) {
              if (bad++ == 0) first = i;
            }
          }
          EXPECT_EQ(bad, 0) << "M=" << M << " N=" << N << " K=" << K << " "
                            << where(level(), threads) << (int8 ? " int8" : " f32")
                            << " first bad [" << first / N << "," << first % N << "] got "
                            << (first >= 0 ? y[first] : 0.f) << " want "
                            << (first >= 0 ? ref[first] : 0.f);
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// MatmulOrder::BatchInvariant: every row of y has the same bits whether its row of x is
// multiplied alone, in a decode batch or inside a prefill of hundreds of rows, with 1 or 2
// threads, for every type and K (including K that is not a multiple of the SIMD width).
TEST_P(MatmulTest, BatchInvariantRowsDoNotDependOnTheBatch) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  int checked = 0;
  // Panels: K = 4128 is cut into two K blocks (panel_kc), added in a fixed order.
  const std::vector<int64_t> ks =
      panels() ? std::vector<int64_t>{37, 576, 4128} : std::vector<int64_t>{37, 256, 576};
  for (int64_t K : ks) {
    const int64_t N = 100, M = 300;
    Weights wt;
    if (!make(N, K, rng, wt)) continue;
    std::vector<float> x(static_cast<size_t>(M * K));
    for (float& v : x) v = uni(rng);
    std::vector<float> all(static_cast<size_t>(M * N));
    matmul_with(kernels_for(level()), wt.w, x.data(), K, M, all.data(), N, pool_of(2),
                MatmulActivations::F32, MatmulOrder::BatchInvariant);
    // Sub-batches of every size class (single row, decode tile, one past it, small and large
    // prefill chunks) at several offsets.
    for (int64_t rows : {1, 2, 7, 8, 9, 33, 129, 257}) {
      for (int64_t m0 : {int64_t{0}, int64_t{5}, M - rows}) {
        for (int threads : {1, 2}) {
          std::vector<float> part(static_cast<size_t>(rows * N));
          matmul_with(kernels_for(level()), wt.w, x.data() + m0 * K, K, rows, part.data(), N,
                      pool_of(threads), MatmulActivations::F32, MatmulOrder::BatchInvariant);
          ASSERT_EQ(std::memcmp(part.data(), all.data() + m0 * N, part.size() * sizeof(float)), 0)
              << "K=" << K << " rows " << m0 << ".." << m0 + rows << " of " << M << " "
              << where(level(), threads);
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// matmul_ex: strided x rows, y written into a column slice of a wider matrix; the columns around
// the slice must stay untouched.
TEST_P(MatmulTest, LeadingDimensionsAndColumnSlices) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  const int64_t K = 256, N = 40, pad_x = 9, col0 = 5, ldy = N + 13;
  Weights wt;
  ASSERT_TRUE(make(N, K, rng, wt));
  for (int64_t M : {1, 4, 8, 9, 37, 53}) {
    std::vector<float> x(static_cast<size_t>(M * K));
    for (float& v : x) v = uni(rng);
    std::vector<float> xs(static_cast<size_t>(M * (K + pad_x)), NAN);  // padding must be unread
    for (int64_t m = 0; m < M; ++m) std::memcpy(&xs[m * (K + pad_x)], &x[m * K], K * sizeof(float));
    std::vector<float> ref(static_cast<size_t>(M * N));
    matmul_reference(wt.w, x.data(), M, ref.data());
    const std::vector<double> scale = error_scale(wt.w, x, M);
    const std::vector<double> act_bound = act_rounding_bound(wt.w, x, M);
    for (int threads : {1, 2}) {
      std::vector<float> y(static_cast<size_t>(M * ldy), -123.f);
      run(wt.w, xs.data(), K + pad_x, M, y.data() + col0, ldy, threads);
      for (int64_t m = 0; m < M; ++m) {
        for (int64_t c = 0; c < ldy; ++c) {
          const float got = y[m * ldy + c];
          if (c < col0 || c >= col0 + N) {
            ASSERT_EQ(got, -123.f) << "wrote outside the slice at m=" << m << " c=" << c;
          } else {
            const int64_t i = m * N + (c - col0);
            ASSERT_LE(std::fabs(got - ref[i]), kRelTol * scale[i] + act_bound[i] + 1e-30)
                << "M=" << M << " m=" << m << " n=" << c - col0 << " " << where(level(), threads);
          }
        }
      }
    }
  }
}

// matmul_many: several products of one x (q, k, v of different widths) give the same bits as
// one matmul_with per product, in both orders, with int8 and f32 activations, from decode rows
// to the GEMM's sizes, writing into strided outputs.
TEST_P(MatmulTest, ManyProductsEqualOneAtATime) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  const int64_t K = 256;
  const int64_t widths[] = {96, 32, 33};
  Weights wt[3];
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(make(widths[i], K, rng, wt[i]));
  const KernelTable& kt = kernels_for(level());
  for (int64_t M : {1, 3, 8, 9, 40, 200}) {
    std::vector<float> x(static_cast<size_t>(M * K));
    for (float& v : x) v = uni(rng);
    for (auto act : {MatmulActivations::F32, MatmulActivations::Int8}) {
      for (auto order : {MatmulOrder::Fastest, MatmulOrder::BatchInvariant}) {
        std::vector<std::vector<float>> many(3), alone(3);
        std::vector<MatmulTarget> targets;
        for (int i = 0; i < 3; ++i) {
          const int64_t ldy = widths[i] + 3;
          many[i].assign(static_cast<size_t>(M * ldy), -7.f);
          alone[i].assign(static_cast<size_t>(M * ldy), -7.f);
          targets.push_back({&wt[i].w, many[i].data(), ldy});
          matmul_with(kt, wt[i].w, x.data(), K, M, alone[i].data(), ldy, pool_of(2), act, order);
        }
        matmul_many_with(kt, targets, x.data(), K, M, pool_of(2), act, order);
        for (int i = 0; i < 3; ++i) {
          ASSERT_EQ(std::memcmp(many[i].data(), alone[i].data(), many[i].size() * sizeof(float)), 0)
              << "product " << i << " M=" << M << " " << where(level(), 2)
              << (act == MatmulActivations::Int8 ? " int8" : " f32")
              << (order == MatmulOrder::BatchInvariant ? " batch-invariant" : "");
        }
      }
    }
  }
}

// F32 has no block structure, so rows of any length are valid: K tails that are not a multiple of
// the SIMD width (or of the GEMM's K block) must be handled too.
class MatmulLevel : public test::LevelTest {};

TEST_P(MatmulLevel, F32RowsOfAnyLength) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  for (int64_t K : {1, 13, 37, 300, 700}) {
    for (int64_t N : {5, 17, 40}) {
      Weights wt;
      ASSERT_TRUE(make_weights(GgmlType::F32, N, K, rng, wt));
      for (int64_t M : {1, 3, 8, 9, 17, 20, 40}) {
        std::vector<float> x(static_cast<size_t>(M * K));
        for (float& v : x) v = uni(rng);
        std::vector<float> ref(static_cast<size_t>(M * N)), y(static_cast<size_t>(M * N), NAN);
        matmul_reference(wt.w, x.data(), M, ref.data());
        const std::vector<double> scale = error_scale(wt.w, x, M);
        matmul_with(kt(), wt.w, x.data(), K, M, y.data(), N, pool_of(2));
        for (int64_t i = 0; i < M * N; ++i) {
          ASSERT_LE(std::fabs(y[i] - ref[i]), kRelTol * scale[i] + 1e-30)
              << "K=" << K << " N=" << N << " M=" << M << " i=" << i;
        }
      }
    }
  }
}

// The int8 GEMM tile of each level against the scalar tile, on panels packed from random weights
// of every type with a packer (with and without weight offsets), every row count 1..8 and every
// column count 1..16.
class GemmI8Level : public test::LevelTest {};

TEST_P(GemmI8Level, TileMatchesScalar) {
  if (kt().gemm_i8 == nullptr) {
    GTEST_SKIP() << isa_name(level())
                 << " has no int8 GEMM tile: its prefill runs the f32 GEMM (tested above)";
  }
  std::mt19937 rng(21);
  std::normal_distribution<float> nd(0.f, 1.f);
  int checked = 0;
  for (GgmlType t : testable_types()) {
    const TypeKernels* tk = kernels_for(Isa::Scalar).type(t);
    if (tk->pack_i8 == nullptr) continue;
    ASSERT_EQ(kt().type(t)->pack_i8, tk->pack_i8) << "every level shares the packers";
    for (int64_t K : {256, 768}) {
      const int64_t nb = K / kGemmI8Block;
      Weights wt;
      ASSERT_TRUE(make_weights(t, kGemmI8NR, K, rng, wt));
      std::vector<float> x(static_cast<size_t>(kGemmI8MaxMR * K));
      for (float& v : x) v = nd(rng);
      const int64_t stride = nb * static_cast<int64_t>(sizeof(ActU8));
      std::vector<uint8_t> act(static_cast<size_t>(kGemmI8MaxMR * stride));
      for (int i = 0; i < kGemmI8MaxMR; ++i)
        quantize_act_u8(x.data() + i * K, act.data() + i * stride, K);
      for (int cols = 1; cols <= kGemmI8NR; cols += (cols < 3 ? 1 : 6)) {
        std::vector<PanelBlockI8> panel(static_cast<size_t>(nb));
        const void* rows[kGemmI8NR];
        for (int j = 0; j < cols; ++j) rows[j] = wt.w.row(j);
        tk->pack_i8(rows, cols, nb, panel.data());
        for (int mr = 1; mr <= kGemmI8MaxMR; ++mr) {
          const int64_t ldy = kGemmI8NR + 3;
          std::vector<float> want(static_cast<size_t>(mr * ldy), -7.f), got(want);
          gemm_i8_micro_scalar(nb, act.data(), stride, mr, panel.data(), want.data(), ldy, cols);
          kt().gemm_i8(nb, act.data(), stride, mr, panel.data(), got.data(), ldy, cols);
          // Error scale: sum of |terms| of the reference, per output.
          for (int i = 0; i < mr; ++i) {
            for (int j = 0; j < ldy; ++j) {
              const float g = got[i * ldy + j], r = want[i * ldy + j];
              if (j >= cols) {
                ASSERT_EQ(g, -7.f) << "wrote past column " << cols;
                continue;
              }
              double mag = 0;
              const auto* a = reinterpret_cast<const ActU8*>(act.data() + i * stride);
              for (int64_t b = 0; b < nb; ++b) {
                double s = 0;
                for (int k = 0; k < kGemmI8Block; ++k)
                  s += std::fabs((a[b].qs[k] - 128.0) * panel[b].q[k / 4][j][k % 4]);
                mag += s * std::fabs(panel[b].d[j] * a[b].d) + std::fabs(panel[b].m[j] * a[b].dsum);
              }
              ASSERT_NEAR(g, r, 1e-5 * mag + 1e-30)
                  << ggml_type_name(static_cast<uint32_t>(t)) << " K=" << K << " rows=" << mr
                  << " cols=" << cols << " [" << i << "," << j << "]";
            }
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// The panel GEMM tile of each level against the scalar reference: every row count, one panel
// (cols 1..32) and two (33..64, up to kPanelPairMaxRows rows), K blocks of any length, with and
// without accumulating into y; y outside the tile stays untouched.
class PanelTile : public test::LevelTest {};

// A panel tile's output against the reference's: y untouched outside rows x cols, and within
// 1e-5 of the error scale (sum over k of |x w|, plus y when accumulating) inside; weight(j, k) is
// the weight of column j.
template <class Weight>
::testing::AssertionResult tile_matches(const std::vector<float>& got,
                                        const std::vector<float>& want, int rows, int cols,
                                        int64_t ldy, bool acc, const float* x, int64_t ldx,
                                        int64_t kc, const Weight& weight) {
  for (int i = 0; i < kPanelMaxRows; ++i) {
    for (int j = 0; j < ldy; ++j) {
      const size_t at = static_cast<size_t>(i * ldy + j);
      if (i >= rows || j >= cols) {
        if (got[at] != want[at])
          return ::testing::AssertionFailure()
                 << "wrote outside the tile at [" << i << "," << j << "]";
        continue;
      }
      double mag = acc ? std::fabs(want[at]) : 0.0;
      for (int64_t k = 0; k < kc; ++k) mag += std::fabs(x[i * ldx + k] * weight(j, k));
      if (!(std::fabs(got[at] - want[at]) <= 1e-5 * mag + 1e-30))
        return ::testing::AssertionFailure()
               << "[" << i << "," << j << "] got " << got[at] << " want " << want[at];
    }
  }
  return ::testing::AssertionSuccess();
}

TEST_P(PanelTile, MatchesScalar) {
  if (kt().gemm_panel_f16 == nullptr) {
    GTEST_SKIP() << isa_name(level())
                 << " has no panel GEMM tile: F16 products there run the dot-product tiles and "
                    "the GEMM (tested in MatmulTest)";
  }
  std::mt19937 rng(31);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  int checked = 0;
  for (int64_t kc : {1, 7, 64, 193}) {
    const int64_t stride = kc * 32 + 32;  // the second panel, a little further than adjacent
    std::vector<uint16_t> panel(static_cast<size_t>(2 * stride));
    for (uint16_t& h : panel) h = fp32_to_fp16(uni(rng));
    const int64_t ldx = kc + 5, ldy = 64 + 3;
    std::vector<float> x(static_cast<size_t>(kPanelMaxRows * ldx));
    for (float& v : x) v = uni(rng);
    for (int cols : {1, 17, 32, 33, 50, 64}) {
      const int max_rows = cols > 32 ? kPanelPairMaxRows : kPanelMaxRows;
      for (int rows = 1; rows <= max_rows; ++rows) {
        for (bool acc : {false, true}) {
          std::vector<float> want(static_cast<size_t>(kPanelMaxRows * ldy));
          for (float& v : want) v = uni(rng);
          std::vector<float> got(want);
          gemm_panel_f16_scalar(panel.data(), stride, kc, x.data(), ldx, rows, want.data(), ldy,
                                cols, acc);
          kt().gemm_panel_f16(panel.data(), stride, kc, x.data(), ldx, rows, got.data(), ldy, cols,
                              acc);
          const auto weight = [&](int j, int64_t k) {
            return fp16_to_fp32(panel[static_cast<size_t>((j / 32) * stride + j % 32 + k * 32)]);
          };
          ASSERT_TRUE(tile_matches(got, want, rows, cols, ldy, acc, x.data(), ldx, kc, weight))
              << "kc=" << kc << " rows=" << rows << " cols=" << cols << " acc=" << acc;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// The Q8_0 panel tile against the scalar reference, on a panel packed from random Q8_0 rows
// (every row count, 1..32 columns, 1 to 5 blocks, with and without accumulating).
TEST_P(PanelTile, Q8MatchesScalar) {
  if (kt().gemm_panel_q8_0 == nullptr) {
    GTEST_SKIP() << isa_name(level())
                 << " has no Q8_0 panel GEMM tile: Q8_0 products there run the dot-product tiles "
                    "and the GEMM (tested in MatmulTest)";
  }
  std::mt19937 rng(37);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  int checked = 0;
  for (int64_t K : {32, 96, 160}) {
    Weights wt;
    ASSERT_TRUE(make_weights(GgmlType::Q8_0, 32, K, rng, wt));
    const Panels panels = pack_panels(wt.w);
    const auto* panel = reinterpret_cast<const uint8_t*>(panels.data.get());
    std::vector<float> rows_f32(static_cast<size_t>(32 * K));  // the dequantized weights
    for (int j = 0; j < 32; ++j)
      kernels_for(Isa::Scalar).type(GgmlType::Q8_0)->dequant(wt.w.row(j), &rows_f32[j * K], K);
    const int64_t ldx = K + 3, ldy = 32 + 5;
    std::vector<float> x(static_cast<size_t>(kPanelMaxRows * ldx));
    for (float& v : x) v = uni(rng);
    for (int cols : {1, 17, 32}) {
      for (int rows = 1; rows <= kPanelMaxRows; ++rows) {
        for (bool acc : {false, true}) {
          std::vector<float> want(static_cast<size_t>(kPanelMaxRows * ldy));
          for (float& v : want) v = uni(rng);
          std::vector<float> got(want);
          gemm_panel_q8_0_scalar(panel, K, x.data(), ldx, rows, want.data(), ldy, cols, acc);
          kt().gemm_panel_q8_0(panel, K, x.data(), ldx, rows, got.data(), ldy, cols, acc);
          const auto weight = [&](int j, int64_t k) {
            return rows_f32[static_cast<size_t>(j * K + k)];
          };
          ASSERT_TRUE(tile_matches(got, want, rows, cols, ldy, acc, x.data(), ldx, K, weight))
              << "K=" << K << " rows=" << rows << " cols=" << cols << " acc=" << acc;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

TEST(Matmul, RejectsBadLeadingDimensions) {
  std::vector<float> w(4 * 32, 0.f), x(32, 0.f), y(4, 0.f);
  const WeightMatrix wm{GgmlType::F32, w.data(), 4, 32, 32 * 4};
  EXPECT_ANY_THROW(matmul_ex(wm, x.data(), 31, 1, y.data(), 4, pool_of(1)));
  EXPECT_ANY_THROW(matmul_ex(wm, x.data(), 32, 1, y.data(), 3, pool_of(1)));
}

// matmul / matmul_ex run the active level.
TEST(Matmul, DefaultIsActiveLevel) {
  std::mt19937 rng(11);
  Weights wt;
  ASSERT_TRUE(make_weights(GgmlType::F16, 70, 96, rng, wt));
  std::vector<float> x(static_cast<size_t>(40 * 96));
  for (float& v : x) v = std::uniform_real_distribution<float>(-1.f, 1.f)(rng);
  for (int64_t M : {1, 40}) {
    std::vector<float> a(static_cast<size_t>(M * 70)), b(a.size());
    matmul(wt.w, x.data(), M, a.data(), pool_of(2));
    matmul_with(active_kernels(), wt.w, x.data(), 96, M, b.data(), 70, pool_of(2));
    EXPECT_EQ(a, b) << "M=" << M;
  }
}

std::string level_type_name(const ::testing::TestParamInfo<LevelType>& info) {
  return std::string(isa_name(std::get<0>(info.param))) + "_" +
         ggml_type_name(static_cast<uint32_t>(std::get<1>(info.param))) +
         (std::get<2>(info.param) ? "_panels" : "");
}
INSTANTIATE_TEST_SUITE_P(Levels, MatmulTest,
                         ::testing::Combine(::testing::ValuesIn(test::all_levels()),
                                            ::testing::ValuesIn(testable_types()),
                                            ::testing::Values(false)),
                         level_type_name);
// The panel layout itself (weight_panels.h), byte for byte from the GGUF rows: two full panels
// (the transposing path) and a partial one whose missing rows are zeros.
TEST(PanelLayout, MatchesDefinition) {
  std::mt19937 rng(41);
  const int64_t N = 70, K = 96;
  for (GgmlType t : {GgmlType::F16, GgmlType::Q8_0}) {
    Weights wt;
    ASSERT_TRUE(make_weights(t, N, K, rng, wt));
    const Panels panels = pack_panels(wt.w);
    ASSERT_EQ(panels.bytes, panel_bytes(wt.w));
    const auto* bytes = reinterpret_cast<const uint8_t*>(panels.data.get());
    for (int64_t pn = 0; pn * kPanelWidth < N; ++pn) {
      for (int64_t j = 0; j < kPanelWidth; ++j) {
        const int64_t row = pn * kPanelWidth + j;
        for (int64_t k = 0; k < K; ++k) {
          if (t == GgmlType::F16) {
            uint16_t got;
            std::memcpy(&got, bytes + ((pn * K + k) * kPanelWidth + j) * 2, 2);
            const uint16_t want =
                row < N ? static_cast<const uint16_t*>(wt.w.row(row))[k] : uint16_t{0};
            ASSERT_EQ(got, want) << "F16 row " << row << " k " << k;
          } else {
            const uint8_t* blk = bytes + (pn * (K / 32) + k / 32) * kQ8PanelBlockBytes;
            const auto* src = static_cast<const BlockQ8_0*>(wt.w.row(std::min(row, N - 1)));
            const uint8_t want_q = row < N ? static_cast<uint8_t>(src[k / 32].qs[k % 32]) : 0;
            ASSERT_EQ(blk[64 + (k % 32) * 32 + j], want_q) << "Q8_0 row " << row << " k " << k;
            uint16_t d;
            std::memcpy(&d, blk + j * 2, 2);
            ASSERT_EQ(d, row < N ? src[k / 32].d : uint16_t{0}) << "Q8_0 scale, row " << row;
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Panels, MatmulTest,
                         ::testing::Combine(::testing::ValuesIn(test::all_levels()),
                                            ::testing::Values(GgmlType::F16, GgmlType::Q8_0),
                                            ::testing::Values(true)),
                         level_type_name);
INSTANTIATE_TEST_SUITE_P(Levels, PanelTile, ::testing::ValuesIn(test::all_levels()),
                         test::level_param_name);
INSTANTIATE_TEST_SUITE_P(Levels, MatmulLevel, ::testing::ValuesIn(test::all_levels()),
                         test::level_param_name);
INSTANTIATE_TEST_SUITE_P(Levels, GemmI8Level, ::testing::ValuesIn(test::all_levels()),
                         test::level_param_name);

}  // namespace
}  // namespace packinfer
