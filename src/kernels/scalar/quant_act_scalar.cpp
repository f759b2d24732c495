// Activation quantization for the integer dot path, and the scalar reference of that path: the
// weight row dequantized (scalar reference) dotted in double with the dequantized activations.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/quant_blocks.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {
namespace {
// Symmetric int8 with the largest magnitude at +-127.
template <int kN>
float quantize_run(const float* x, int8_t* q) {
  float amax = 0;
  for (int i = 0; i < kN; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  for (int i = 0; i < kN; ++i) q[i] = static_cast<int8_t>(std::nearbyint(x[i] * id));
  return d;
}

// Reference only: the row dequantized by the scalar reference, dotted in double with
// the dequantized activations.
template <typename Act, int kBlock>
float dot_act_ref(void (*dequant)(const void*, float*, int64_t), const void* w, const void* act,
                  int64_t n) {
  const Act* a = static_cast<const Act*>(act);
  // Kept per thread: the matmul calls this once per (weight row, activation row).
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(n));
  dequant(w, row.data(), n);
  double sum = 0;
  for (int64_t i = 0; i < n / kBlock; ++i) {
    for (int k = 0; k < kBlock; ++k) {
      sum += static_cast<double>(row[i * kBlock + k]) * (a[i].d * a[i].qs[k]);
    }
  }
  return static_cast<float>(sum);
}
}  // namespace

int64_t act_bytes_q8_0(int64_t n) { return n / kQK8_0 * static_cast<int64_t>(sizeof(ActQ8_0)); }

void quantize_act_q8_0(const float* x, void* act, int64_t n) {
  ActQ8_0* a = static_cast<ActQ8_0*>(act);
  for (int64_t i = 0; i < n / kQK8_0; ++i) a[i].d = quantize_run<kQK8_0>(x + i * kQK8_0, a[i].qs);
}

int64_t act_bytes_q8_0s(int64_t n) { return n / kQK8_0 * static_cast<int64_t>(sizeof(ActQ8_0S)); }

void quantize_act_q8_0s(const float* x, void* act, int64_t n) {
  ActQ8_0S* a = static_cast<ActQ8_0S*>(act);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    a[i].d = quantize_run<kQK8_0>(x + i * kQK8_0, a[i].qs);
    for (int j = 0; j < 8; ++j) {
      const int8_t* q = a[i].qs + 4 * j;
      a[i].sum8[j] = 8 * (q[0] + q[1] + q[2] + q[3]);
    }
  }
}

int64_t act_bytes_q8k(int64_t n) { return n / kQK_K * static_cast<int64_t>(sizeof(ActQ8K)); }

void quantize_act_q8k(const float* x, void* act, int64_t n) {
  ActQ8K* a = static_cast<ActQ8K*>(act);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    a[i].d = quantize_run<kQK_K>(x + i * kQK_K, a[i].qs);
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int k = 0; k < 16; ++k) s += a[i].qs[16 * j + k];
      a[i].bsums[j] = static_cast<int16_t>(s);
    }
  }
}

#define PACKINFER_DOT_ACT_SCALAR(t, Act, kBlock)                          \
  float dot_act_##t##_scalar(const void* w, const void* act, int64_t n) { \
    return dot_act_ref<Act, kBlock>(dequant_##t##_scalar, w, act, n);     \
  }
PACKINFER_DOT_ACT_SCALAR(q8_0, ActQ8_0, kQK8_0)
PACKINFER_DOT_ACT_SCALAR(q4_0, ActQ8_0S, kQK8_0)
PACKINFER_DOT_ACT_SCALAR(q5_0, ActQ8_0, kQK8_0)
PACKINFER_DOT_ACT_SCALAR(q2_k, ActQ8K, kQK_K)
PACKINFER_DOT_ACT_SCALAR(q4_k, ActQ8K, kQK_K)
PACKINFER_DOT_ACT_SCALAR(q5_k, ActQ8K, kQK_K)
PACKINFER_DOT_ACT_SCALAR(q6_k, ActQ8K, kQK_K)
#undef PACKINFER_DOT_ACT_SCALAR

}  // namespace packinfer
