// Dispatch of the element-wise ops to the active level's kernels.
#include "kernels/elementwise.h"

#include "kernels/kernel_table.h"

namespace packinfer {

void rms_norm(const float* x, const float* w, float* y, int64_t n_rows, int64_t n, float eps) {
  active_kernels().rms_norm(x, w, y, n_rows, n, eps);
}

void rope(float* x, int64_t n_tokens, int64_t stride, int32_t n_heads, int32_t head_dim,
          const int32_t* pos, float freq_base, RopeStyle style) {
  active_kernels().rope(x, n_tokens, stride, n_heads, head_dim, pos, freq_base, style);
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  active_kernels().swiglu(gate, up, out, n);
}

void add_inplace(float* y, const float* x, int64_t n) { active_kernels().add_inplace(y, x, n); }

}  // namespace packinfer
