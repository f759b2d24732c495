#include "kernels/matmul.h"

#include <vector>

#include "kernels/type_kernels.h"
#include "packinfer/error.h"

namespace packinfer {

// Initial version: row dots for every m. The blocked GEMM replaces the large-M path.
void matmul(const WeightMatrix& w, const float* x, int64_t M, float* y, ThreadPool& pool) {
  const TypeKernels* k = type_kernels(w.type);
  if (k == nullptr) throw Error("no kernel for tensor type " + ggml_type_name(static_cast<uint32_t>(w.type)));
  pool.parallel_for(w.rows, 16, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const void* row = w.row(n);
      for (int64_t m = 0; m < M; ++m) y[m * w.rows + n] = k->dot(row, x + m * w.cols, w.cols);
    }
  });
}

void matmul_reference(const WeightMatrix& w, const float* x, int64_t M, float* y) {
  const TypeKernels* k = type_kernels(w.type, /*avx2=*/false);
  if (k == nullptr) throw Error("no kernel for tensor type " + ggml_type_name(static_cast<uint32_t>(w.type)));
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t n = 0; n < w.rows; ++n) {
    k->dequant(w.row(n), row.data(), w.cols);
    for (int64_t m = 0; m < M; ++m) {
      double sum = 0;
      for (int64_t c = 0; c < w.cols; ++c) sum += static_cast<double>(row[c]) * x[m * w.cols + c];
      y[m * w.rows + n] = static_cast<float>(sum);
    }
  }
}

}  // namespace packinfer
