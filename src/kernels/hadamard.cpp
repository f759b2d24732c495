#include "kernels/hadamard.h"

#include <cmath>

namespace packinfer {

void hadamard_rows(float* x, int64_t n_rows, int64_t stride, int32_t d) {
  const float norm = 1.0f / std::sqrt(static_cast<float>(d));
  for (int64_t r = 0; r < n_rows; ++r) {
    float* v = x + r * stride;
    // Butterflies of growing span; the compiler vectorizes the inner loop for span >= 8.
    for (int32_t span = 1; span < d; span *= 2) {
      for (int32_t i = 0; i < d; i += 2 * span) {
        for (int32_t j = i; j < i + span; ++j) {
          const float a = v[j], b = v[j + span];
          v[j] = a + b;
          v[j + span] = a - b;
        }
      }
    }
    for (int32_t i = 0; i < d; ++i) v[i] *= norm;
  }
}

}  // namespace packinfer
