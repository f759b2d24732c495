#include "kernels/cpu_features.h"

#include <atomic>
#include <cstdlib>

namespace packinfer {
namespace {
std::atomic<bool> g_force_scalar{false};
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    c.avx2 = __builtin_cpu_supports("avx2");
    c.fma = __builtin_cpu_supports("fma");
    c.f16c = __builtin_cpu_supports("f16c");
#endif
    return c;
  }();
  return f;
}

bool use_avx2() {
  static const bool env_off = std::getenv("PACKINFER_NO_AVX2") != nullptr;
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma && f.f16c && !env_off && !g_force_scalar.load(std::memory_order_relaxed);
}

void set_force_scalar(bool on) { g_force_scalar.store(on); }

}  // namespace packinfer
