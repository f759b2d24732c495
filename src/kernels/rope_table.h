#pragma once
// cos/sin of the rotary angles of one position, shared by the scalar and AVX2 rope so both use
// exactly the same float values. Mirrors llama.cpp's ggml_rope_cache_init (freq_scale 1, no
// YaRN): theta starts at (float)pos and is multiplied by powf(base, -2/head_dim) per pair, which
// differs in the last bits from pos * pow(base, -2i/head_dim) computed directly; matching
// llama.cpp bit for bit matters more here than that rounding.
#include <cmath>
#include <cstdint>

namespace packinfer {

inline void rope_table(int32_t pos, float freq_base, int32_t head_dim, float* cos_out,
                       float* sin_out) {
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(head_dim));
  float theta = static_cast<float>(pos);
  for (int k = 0; k < head_dim / 2; ++k) {
    cos_out[k] = std::cos(theta);
    sin_out[k] = std::sin(theta);
    theta *= theta_scale;
  }
}

// Rounds a product to float before it is added: GCC contracts a*b - c*d into an FMA in C++ even
// at -std=c++20 (and does so for intrinsics too), which would make the AVX2 and scalar rope (and
// builds with and without -mfma) differ in the last bit. The empty asm hides the value from the
// optimiser so the multiply and the add stay separate.
inline float rounded(float x) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  asm("" : "+x"(x));
#endif
  return x;
}

// One rotation, with exactly the float roundings of llama.cpp's scalar rope (no FMA).
inline void rope_rotate(float* a, float* b, float c, float s) {
  const float x0 = *a, x1 = *b;
  *a = rounded(x0 * c) - rounded(x1 * s);
  *b = rounded(x0 * s) + rounded(x1 * c);
}

}  // namespace packinfer
