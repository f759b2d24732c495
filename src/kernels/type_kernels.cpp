#include "kernels/type_kernels.h"

#include "kernels/cpu_features.h"
#include "kernels/quant_act.h"
#include "kernels/type_kernels_impl.h"
#include "packinfer/error.h"

namespace packinfer {

const TypeKernels* type_kernels(GgmlType t, bool avx2) {
  static const TypeKernels f32_scalar{dequant_f32_scalar, dot_f32_scalar};
  static const TypeKernels f16_scalar{dequant_f16_scalar, dot_f16_scalar};
  static const TypeKernels bf16_scalar{dequant_bf16_scalar, dot_bf16_scalar};
  static const TypeKernels f32_avx2{dequant_f32_scalar, dot_f32_avx2};
  static const TypeKernels f16_avx2{dequant_f16_avx2, dot_f16_avx2};
  static const TypeKernels bf16_avx2{dequant_bf16_avx2, dot_bf16_avx2};
// Quantized types: the integer path (act) shares the activation quantizer between both sets.
#define PACKINFER_QUANT_CASE(T, t, act)                                                      \
  case GgmlType::T: {                                                                        \
    static const TypeKernels scalar{dequant_##t##_scalar, dot_##t##_scalar, act_bytes_##act, \
                                    quantize_act_##act, dot_act_##t##_scalar};               \
    static const TypeKernels simd{dequant_##t##_avx2, dot_##t##_avx2, act_bytes_##act,       \
                                  quantize_act_##act, dot_act_##t##_avx2};                   \
    return avx2 ? &simd : &scalar;                                                           \
  }
  switch (t) {
    case GgmlType::F32:
      return avx2 ? &f32_avx2 : &f32_scalar;
    case GgmlType::F16:
      return avx2 ? &f16_avx2 : &f16_scalar;
    case GgmlType::BF16:
      return avx2 ? &bf16_avx2 : &bf16_scalar;
      PACKINFER_QUANT_CASE(Q8_0, q8_0, q8_0)
      PACKINFER_QUANT_CASE(Q4_0, q4_0, q8_0s)
      PACKINFER_QUANT_CASE(Q2_K, q2_k, q8k)
      PACKINFER_QUANT_CASE(Q4_K, q4_k, q8k)
      PACKINFER_QUANT_CASE(Q5_K, q5_k, q8k)
      PACKINFER_QUANT_CASE(Q6_K, q6_k, q8k)
#undef PACKINFER_QUANT_CASE
    default:
      return nullptr;
  }
}

const TypeKernels* type_kernels(GgmlType t) { return type_kernels(t, use_avx2()); }

bool is_supported_weight_type(GgmlType t) { return type_kernels(t, false) != nullptr; }

void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n) {
  const TypeKernels* k = type_kernels(t);
  if (k == nullptr)
    throw Error("no kernel for tensor type " + ggml_type_name(static_cast<uint32_t>(t)));
  k->dequant(src, dst, n);
}

float vec_dot(GgmlType t, const void* w_row, const float* x, int64_t n) {
  const TypeKernels* k = type_kernels(t);
  if (k == nullptr)
    throw Error("no kernel for tensor type " + ggml_type_name(static_cast<uint32_t>(t)));
  return k->dot(w_row, x, n);
}

}  // namespace packinfer
