// The qwen2 architecture (q/k/v biases, NeoX RoPE) on a synthetic model with the layer shapes
// of Qwen2.5-0.5B (2 of its 24 layers, to stay fast). No llama.cpp reference exists for it in
// ../shared/golden, so this checks what can be checked without one: the model loads with its
// biases, logits are finite and well-scaled, and packed, chunked and one-at-a-time execution
// agree at every position.
#include <gtest/gtest.h>

#include <cmath>

#include "support/test_model.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

TEST(Qwen2, BiasesNeoxRopeAndPackedEqualsAlone) {
  TestModel runner(synth_model("qwen2-0.5b-shape", "q4_0", "--layers 2"));
  const ModelConfig& c = runner.config();
  ASSERT_EQ(c.arch, "qwen2");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_EQ(c.rope_style, RopeStyle::NeoX);
  EXPECT_EQ(c.n_head, 14);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_FALSE(runner.model().weights().layers[0].bq.empty());
  // Qwen2.5-0.5B's shape (the preset): 896 = 14 query heads x 64, 2 KV heads x 64 = 128; one bias
  // per output of the q, k and v projections in every layer.
  EXPECT_EQ(c.n_embd, 896);
  for (const auto& layer : runner.model().weights().layers) {
    EXPECT_EQ(layer.bq.size(), 896u);
    EXPECT_EQ(layer.bk.size(), 128u);
    EXPECT_EQ(layer.bv.size(), 128u);
  }
  EXPECT_EQ(runner.model().weights().layers.size(), 2u);  // --layers 2

  const Tokenizer& tok = runner.model().tokenizer();
  std::vector<int32_t> a =
      tok.encode("The licenses for most software are designed to take away", true, true);
  std::vector<int32_t> b = tok.encode("int main(void) { return 0; }", true, true);
  auto alone_a = runner.all_logits(a);
  auto alone_b = runner.all_logits(b);
  auto chunked_a = runner.all_logits(a, 3);
  double sum = 0, sum2 = 0;
  for (float v : alone_a.back()) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sum2 += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(alone_a.back().size());
  const double std = std::sqrt(sum2 / n - (sum / n) * (sum / n));
  EXPECT_GT(std, 0.05);
  EXPECT_LT(std, 5.0);

  const std::vector<float> packed = runner.packed_logits({a, b});
  const size_t vocab = static_cast<size_t>(c.n_vocab);
  auto check = [&](const std::vector<float>& x, const std::vector<float>& y,
                   const std::string& what) {
    double d = 0, scale = 1;
    for (size_t i = 0; i < vocab; ++i) {
      d = std::max(d, static_cast<double>(std::fabs(x[i] - y[i])));
      scale = std::max(scale, static_cast<double>(std::fabs(y[i])));
    }
    EXPECT_LE(d / scale, 1e-4) << what;
  };
  for (size_t p = 0; p < a.size(); ++p) {
    check(std::vector<float>(packed.begin() + p * vocab, packed.begin() + (p + 1) * vocab),
          alone_a[p], "packed a");
    check(chunked_a[p], alone_a[p], "chunked a");
  }
  for (size_t p = 0; p < b.size(); ++p) {
    size_t row = a.size() + p;
    check(std::vector<float>(packed.begin() + row * vocab, packed.begin() + (row + 1) * vocab),
          alone_b[p], "packed b");
  }
}

}  // namespace
}  // namespace packinfer::test
