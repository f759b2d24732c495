// The avx2 level's own kernels, laid over a copy of the scalar table. Compiled for the baseline
// ISA: it only takes the addresses of the kernels in src/kernels/avx2/.
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/kernel_table.h"

namespace packinfer {

void add_avx2_kernels(KernelTable& t) {
  t.gemm = GemmKernel{6, 16, 320, gemm_micro_6x16_avx2, gemm_pack_b16_avx2};
  t.gemv_f32 = gemv_f32_avx2;
  t.gemv_f16 = gemv_f16_avx2;
  // No int8 GEMM tile of its own (yet): prefill with quantized weights runs the f32 GEMM, which
  // beats the scalar int8 tile by far.
  t.gemm_i8 = nullptr;

  // F32 rows keep the scalar dequant (a memcpy); the activation quantizers are shared.
  t.type_slot(GgmlType::F32).dot = dot_f32_avx2;
  t.type_slot(GgmlType::F16) = {dequant_f16_avx2, dot_f16_avx2};
  t.type_slot(GgmlType::BF16) = {dequant_bf16_avx2, dot_bf16_avx2};
#define PACKINFER_QUANT(T, t_)                 \
  {                                            \
    TypeKernels& k = t.type_slot(GgmlType::T); \
    k.dequant = dequant_##t_##_avx2;           \
    k.dot = dot_##t_##_avx2;                   \
    k.dot_act = dot_act_##t_##_avx2;           \
  }
  PACKINFER_QUANT(Q8_0, q8_0)
  PACKINFER_QUANT(Q4_0, q4_0)
  PACKINFER_QUANT(Q5_0, q5_0)
  PACKINFER_QUANT(Q2_K, q2_k)
  PACKINFER_QUANT(Q4_K, q4_k)
  PACKINFER_QUANT(Q5_K, q5_k)
  PACKINFER_QUANT(Q6_K, q6_k)
#undef PACKINFER_QUANT

  t.attention = attention_avx2;
  t.attention_head_dim_multiple = 8;
  t.attention_max_head_dim = kAttentionMaxHeadDimAvx2;

  for (int f = 0; f < kKvTypeSlots; ++f) {  // f32 keeps the scalar memcpy
    if (kv_key_codecs_avx2[f].decode != nullptr) t.kv_key[f] = kv_key_codecs_avx2[f];
    if (kv_value_codecs_avx2[f].decode != nullptr) t.kv_value[f] = kv_value_codecs_avx2[f];
  }

  t.kv_rotate_rows = kv_rotate_rows_avx2;

  t.rms_norm = rms_norm_avx2;
  t.rope = rope_avx2;
  t.swiglu = swiglu_avx2;
  t.add_inplace = add_inplace_avx2;
}

}  // namespace packinfer
