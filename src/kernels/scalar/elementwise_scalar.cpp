// Scalar references for the element-wise ops. The float operation order follows llama.cpp (ggml
// rms_norm, rope cache, silu) so results match it as closely as possible.
#include <cmath>
#include <vector>

#include "kernels/rope_table.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {

void rms_norm_scalar(const float* x, const float* w, float* y, int64_t n_rows, int64_t n,
                     float eps) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i] * xr[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * w[i];
  }
}

void rope_scalar(float* x, int64_t n_tokens, int64_t stride, int32_t n_heads, int32_t head_dim,
                 const int32_t* pos, float freq_base, RopeStyle style) {
  const int half = head_dim / 2;
  thread_local std::vector<float> cos_t, sin_t;
  cos_t.resize(half);
  sin_t.resize(half);
  for (int64_t t = 0; t < n_tokens; ++t) {
    rope_table(pos[t], freq_base, head_dim, cos_t.data(), sin_t.data());
    for (int32_t h = 0; h < n_heads; ++h) {
      float* xh = x + t * stride + static_cast<int64_t>(h) * head_dim;
      for (int k = 0; k < half; ++k) {
        // Normal rotates (2k, 2k+1); NeoX rotates (k, k + head_dim/2).
        float* a = style == RopeStyle::Normal ? xh + 2 * k : xh + k;
        float* b = style == RopeStyle::Normal ? xh + 2 * k + 1 : xh + k + half;
        rope_rotate(a, b, cos_t[k], sin_t[k]);
      }
    }
  }
}

void swiglu_scalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void add_inplace_scalar(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace packinfer
