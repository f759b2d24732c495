#include "kernels/type_kernels.h"

#include "kernels/kernel_table.h"
#include "packinfer/error.h"

namespace packinfer {
namespace {

const TypeKernels& kernels_or_throw(GgmlType t) {
  const TypeKernels* k = type_kernels(t);
  if (k == nullptr)
    throw Error("no kernel for tensor type " + ggml_type_name(static_cast<uint32_t>(t)));
  return *k;
}

}  // namespace

const TypeKernels* type_kernels(GgmlType t) { return active_kernels().type(t); }

bool is_supported_weight_type(GgmlType t) { return type_kernels(t) != nullptr; }

void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n) {
  kernels_or_throw(t).dequant(src, dst, n);
}

float vec_dot(GgmlType t, const void* w_row, const float* x, int64_t n) {
  return kernels_or_throw(t).dot(w_row, x, n);
}

}  // namespace packinfer
