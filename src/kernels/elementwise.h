#pragma once
// Row-wise and element-wise ops of the transformer block. Each runs the kernel of the active
// instruction-set level (active_kernels()); every level's kernels are in its table, the scalar
// references in src/kernels/scalar/.
#include <cstdint>

namespace packinfer {

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, for n_rows rows of n floats (y may alias x).
// As llama.cpp: squares in float summed in double, scale = 1/sqrtf((float)mean + eps),
// y = (x * scale) * w in float.
void rms_norm(const float* x, const float* w, float* y, int64_t n_rows, int64_t n, float eps);

enum class RopeStyle {
  Normal,  // llama: rotates adjacent pairs (2i, 2i+1) of each head
  NeoX,    // qwen2: rotates (i, i + head_dim/2)
};

// In-place rotary embedding of x: n_tokens rows, each row `n_heads` heads of head_dim at row
// stride `stride` floats; token t is at position pos[t]. theta_i = pos * base^(-2i/head_dim).
// head_dim must be even. Computed exactly like llama.cpp (ggml_rope_cache_init): theta starts at
// (float)pos and is multiplied by powf(base, -2/head_dim) once per pair, then cosf/sinf in float.
void rope(float* x, int64_t n_tokens, int64_t stride, int32_t n_heads, int32_t head_dim,
          const int32_t* pos, float freq_base, RopeStyle style);

// SwiGLU: out[i] = silu(gate[i]) * up[i], n floats (out may alias gate or up).
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t n);

}  // namespace packinfer
