// The avx512 level's own kernels, laid over a copy of the avx2 table. Compiled for the baseline
// ISA: it only takes the addresses of the kernels in src/kernels/avx512/.
#include "kernels/kernel_table.h"

namespace packinfer {

// Nothing of its own yet: the level runs the avx2 kernels.
void add_avx512_kernels(KernelTable& t) {}

}  // namespace packinfer
