#include "kernels/cpu_features.h"

#include <atomic>
#include <cstdlib>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

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
    // clang 14 has no "f16c" for __builtin_cpu_supports, so read CPUID leaf 1 (ECX bit 29).
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    c.f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
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
