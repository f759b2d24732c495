// The avx512_vnni level's own kernels, laid over a copy of the avx512 table. Compiled for the
// baseline ISA: it only takes the addresses of the kernels in src/kernels/avx512_vnni/.
#include "kernels/avx512_vnni/avx512_vnni_kernels.h"
#include "kernels/kernel_table.h"

namespace packinfer {

void add_avx512_vnni_kernels(KernelTable& t) {
  t.type_slot(GgmlType::Q8_0).dot_act = dot_act_q8_0_vnni;
  t.type_slot(GgmlType::Q4_0).dot_act = dot_act_q4_0_vnni;
  t.type_slot(GgmlType::Q5_0).dot_act = dot_act_q5_0_vnni;
  t.gemm_i8 = gemm_i8_micro_vnni;
}

}  // namespace packinfer
