// The avx512 level's own kernels, laid over a copy of the avx2 table. Compiled for the baseline
// ISA: it only takes the addresses of the kernels in src/kernels/avx512/.
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/kernel_table.h"
#include "kernels/weight_panels.h"

namespace packinfer {

void add_avx512_kernels(KernelTable& t) {
  // 14x32 tile: a 32 x 288 panel of B is 36 KB, within the 48 KB L1d of Zen 4/5 and Sapphire
  // Rapids.
  t.gemm = GemmKernel{14, 32, 288, gemm_micro_14x32_avx512, gemm_pack_b32_avx512};

  static_assert(kPanelMaxRowsAvx512 == kPanelMaxRows &&
                kPanelPairMaxRowsAvx512 == kPanelPairMaxRows && kPanelWidthAvx512 == kPanelWidth &&
                kPanelQ8BlockBytesAvx512 == kQ8PanelBlockBytes);
  t.gemm_panel_f16 = gemm_panel_f16_avx512;
  t.gemm_panel_q8_0 = gemm_panel_q8_0_avx512;

  t.gemv_f32 = gemv_f32_avx512;
  t.gemv_f16 = gemv_f16_avx512;

  t.attention = attention_avx512;
  t.attention_head_dim_multiple = 8;
  t.attention_max_head_dim = kAttentionMaxHeadDimAvx512;

  for (int f = 0; f < kKvTypeSlots; ++f) {  // f32 keeps the scalar memcpy
    if (kv_key_codecs_avx512[f].decode != nullptr) t.kv_key[f] = kv_key_codecs_avx512[f];
    if (kv_value_codecs_avx512[f].decode != nullptr) t.kv_value[f] = kv_value_codecs_avx512[f];
  }
  t.kv_rotate_rows = kv_rotate_rows_avx512;
}

}  // namespace packinfer
