// The scalar level's table: every entry, the reference kernels. Compiled for the baseline ISA.
#include "kernels/kernel_table.h"
#include "kernels/scalar/scalar_kernels.h"

namespace packinfer {

void add_scalar_kernels(KernelTable& t) {
  t.gemm = GemmKernel{6, 16, 320, gemm_micro_6x16_scalar, gemm_pack_b16_scalar};
  t.gemv_f32 = nullptr;  // no tile: the GEMV uses the types' dots
  t.gemv_f16 = nullptr;

  t.type_slot(GgmlType::F32) = {dequant_f32_scalar, dot_f32_scalar};
  t.type_slot(GgmlType::F16) = {dequant_f16_scalar, dot_f16_scalar};
  t.type_slot(GgmlType::BF16) = {dequant_bf16_scalar, dot_bf16_scalar};
#define PACKINFER_QUANT(T, t_, act)                                                      \
  t.type_slot(GgmlType::T) = {dequant_##t_##_scalar, dot_##t_##_scalar, act_bytes_##act, \
                              quantize_act_##act, dot_act_##t_##_scalar};
  PACKINFER_QUANT(Q8_0, q8_0, q8_0)
  PACKINFER_QUANT(Q4_0, q4_0, q8_0s)
  PACKINFER_QUANT(Q5_0, q5_0, q8_0)
  PACKINFER_QUANT(Q2_K, q2_k, q8k)
  PACKINFER_QUANT(Q4_K, q4_k, q8k)
  PACKINFER_QUANT(Q5_K, q5_k, q8k)
  PACKINFER_QUANT(Q6_K, q6_k, q8k)
#undef PACKINFER_QUANT
  t.type_slot(GgmlType::Q8_0).pack_i8 = pack_i8_q8_0;
  t.type_slot(GgmlType::Q4_0).pack_i8 = pack_i8_q4_0;
  t.type_slot(GgmlType::Q5_0).pack_i8 = pack_i8_q5_0;
  t.type_slot(GgmlType::Q4_K).pack_i8 = pack_i8_q4_k;
  t.type_slot(GgmlType::Q5_K).pack_i8 = pack_i8_q5_k;
  t.gemm_i8 = gemm_i8_micro_scalar;

  t.attention = attention_scalar;
  t.attention_head_dim_multiple = 1;
  t.attention_max_head_dim = INT32_MAX;

  for (int f = 0; f < kKvTypeSlots; ++f) {
    t.kv_key[f] = kv_key_codec_scalar(f);
    t.kv_value[f] = kv_value_codec_scalar(f);
  }

  t.rms_norm = rms_norm_scalar;
  t.kv_rotate_rows = kv_rotate_rows_scalar;
  t.rope = rope_scalar;
  t.swiglu = swiglu_scalar;
  t.add_inplace = add_inplace_scalar;
}

}  // namespace packinfer
