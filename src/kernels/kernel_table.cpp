#include "kernels/kernel_table.h"

#include "kernels/isa_select.h"

namespace packinfer {
namespace {

struct Tables {
  KernelTable by_level[kIsaCount];
  Tables() {
    // Each level starts as a copy of the one below, so it inherits every entry it does not
    // override.
    KernelTable t;
    add_scalar_kernels(t);
    by_level[isa_index(Isa::Scalar)] = t;
    add_avx2_kernels(t);
    by_level[isa_index(Isa::Avx2)] = t;
    add_avx512_kernels(t);
    by_level[isa_index(Isa::Avx512)] = t;
    add_avx512_vnni_kernels(t);
    by_level[isa_index(Isa::Avx512Vnni)] = t;
    // amx has no kernels of its own yet (issue #9): AMX tile GEMMs go here, through
    // add_amx_kernels.
    by_level[isa_index(Isa::Amx)] = t;
    for (Isa isa : kAllIsas) by_level[isa_index(isa)].isa = isa;
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const KernelTable& kernels_for(Isa isa) { return tables().by_level[isa_index(isa)]; }

const KernelTable& active_kernels() {
  static const KernelTable& t = kernels_for(active_isa());
  return t;
}

}  // namespace packinfer
