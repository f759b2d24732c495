// AVX2 element-wise kernels. rms_norm and rope perform the same float operations as the scalar
// references (no FMA contraction: mul then add/sub), so they agree bit for bit apart from the
// order of the double sum in rms_norm; swiglu uses the polynomial exp of exp_avx2.h.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/exp_avx2.h"
#include "kernels/rope_table.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {
namespace {
// Keeps a product rounded to float before the following add (see rounded() in rope_table.h).
inline __m256 rounded(__m256 x) {
  asm("" : "+x"(x));
  return x;
}
}  // namespace

void rms_norm_avx2(const float* x, const float* w, float* y, int64_t n_rows, int64_t n, float eps) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    // Squares are rounded to float (as llama.cpp does) and summed in double.
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_loadu_ps(xr + i);
      const __m256 sq = _mm256_mul_ps(v, v);
      s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
      s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
    }
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, _mm256_add_pd(s0, s1));
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; ++i) sum += static_cast<double>(xr[i] * xr[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    const __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xr + i), vs);
      _mm256_storeu_ps(yr + i, _mm256_mul_ps(v, _mm256_loadu_ps(w + i)));
    }
    for (; i < n; ++i) yr[i] = (xr[i] * scale) * w[i];
  }
}

void rope_avx2(float* x, int64_t n_tokens, int64_t stride, int32_t n_heads, int32_t head_dim,
               const int32_t* pos, float freq_base, RopeStyle style) {
  // The tables live on the stack: a std::vector here would instantiate library code with AVX2
  // flags that the linker could hand to baseline callers (see matmul_internal.h). Heads larger
  // than any model's go to the scalar kernel, which computes the same values.
  if (head_dim > kRopeMaxHeadDimAvx2) {
    rope_scalar(x, n_tokens, stride, n_heads, head_dim, pos, freq_base, style);
    return;
  }
  const int half = head_dim / 2;
  // cos/sin of the current token; for Normal also duplicated per pair ([c0 c0 c1 c1 ...]) so
  // 4 pairs rotate per vector.
  float cos_t[kRopeMaxHeadDimAvx2 / 2], sin_t[kRopeMaxHeadDimAvx2 / 2];
  float cos_d[kRopeMaxHeadDimAvx2], sin_d[kRopeMaxHeadDimAvx2];
  for (int64_t t = 0; t < n_tokens; ++t) {
    rope_table(pos[t], freq_base, head_dim, cos_t, sin_t);
    if (style == RopeStyle::Normal) {
      for (int k = 0; k < half; ++k) {
        cos_d[2 * k] = cos_d[2 * k + 1] = cos_t[k];
        sin_d[2 * k] = sin_d[2 * k + 1] = sin_t[k];
      }
    }
    for (int32_t h = 0; h < n_heads; ++h) {
      float* xh = x + t * stride + static_cast<int64_t>(h) * head_dim;
      if (style == RopeStyle::Normal) {
        int i = 0;
        for (; i + 8 <= head_dim; i += 8) {
          const __m256 v = _mm256_loadu_ps(xh + i);
          const __m256 swapped = _mm256_permute_ps(v, 0xB1);  // [x1 x0 x3 x2 ...]
          const __m256 a = rounded(_mm256_mul_ps(v, _mm256_loadu_ps(cos_d + i)));
          const __m256 b = rounded(_mm256_mul_ps(swapped, _mm256_loadu_ps(sin_d + i)));
          // even lanes x0*c - x1*s, odd lanes x1*c + x0*s
          _mm256_storeu_ps(xh + i, _mm256_addsub_ps(a, b));
        }
        for (; i < head_dim; i += 2) rope_rotate(xh + i, xh + i + 1, cos_t[i / 2], sin_t[i / 2]);
      } else {
        int k = 0;
        for (; k + 8 <= half; k += 8) {
          const __m256 x0 = _mm256_loadu_ps(xh + k);
          const __m256 x1 = _mm256_loadu_ps(xh + k + half);
          const __m256 c = _mm256_loadu_ps(cos_t + k);
          const __m256 s = _mm256_loadu_ps(sin_t + k);
          const __m256 x0c = rounded(_mm256_mul_ps(x0, c)), x1s = rounded(_mm256_mul_ps(x1, s));
          const __m256 x0s = rounded(_mm256_mul_ps(x0, s)), x1c = rounded(_mm256_mul_ps(x1, c));
          _mm256_storeu_ps(xh + k, _mm256_sub_ps(x0c, x1s));
          _mm256_storeu_ps(xh + k + half, _mm256_add_ps(x0s, x1c));
        }
        for (; k < half; ++k) rope_rotate(xh + k, xh + k + half, cos_t[k], sin_t[k]);
      }
    }
  }
}

namespace {

inline __m256 swiglu8(__m256 g, __m256 u) {
  const __m256 e = avx2::exp_ps(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)));  // exp(-g)
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

}  // namespace

void swiglu_avx2(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, swiglu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  }
  if (i == n) return;
  // The tail takes the same vector math, padded, so an element's result does not depend on where
  // it falls: the MLP's mini-sequences give the same bits at any size (n = rows x n_ff).
  alignas(32) float g[8] = {}, u[8] = {};
  const int64_t rest = n - i;
  std::copy(gate + i, gate + n, g);
  std::copy(up + i, up + n, u);
  _mm256_store_ps(g, swiglu8(_mm256_load_ps(g), _mm256_load_ps(u)));
  std::copy(g, g + rest, out + i);
}

void add_inplace_avx2(float* y, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
  }
  for (; i < n; ++i) y[i] += x[i];
}

}  // namespace packinfer
