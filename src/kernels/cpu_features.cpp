#include "kernels/cpu_features.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace packinfer {
namespace {

#if defined(__x86_64__) || defined(__i386__)
bool bit(unsigned reg, int b) { return ((reg >> b) & 1u) != 0; }

// XGETBV through inline asm rather than _xgetbv(), which needs -mxsave on this file; only called
// when CPUID says the OS has set CR4.OSXSAVE (otherwise the instruction faults).
uint64_t read_xcr0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

// Linux keeps AMX tile data disabled for a process until it asks (kernel 5.16+); the request
// fails on older kernels (EINVAL) or when a sigaltstack is too small for the larger signal frame.
void request_amx(CpuFeatures& f) {
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0) {
    f.amx_permission = AmxPermission::Granted;
  } else {
    f.amx_permission = AmxPermission::Refused;
    f.amx_refusal =
        std::string("arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA): ") + std::strerror(errno);
  }
#else
  f.amx_permission = AmxPermission::Refused;
  f.amx_refusal = "AMX tile permission is only requested on Linux x86-64";
#endif
}

CpuFeatures read_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
    f.fma = bit(ecx, 12);
    f.osxsave = bit(ecx, 27);
    f.f16c = bit(ecx, 29);
  }
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    f.avx2 = bit(ebx, 5);
    f.avx512f = bit(ebx, 16);
    f.avx512dq = bit(ebx, 17);
    f.avx512bw = bit(ebx, 30);
    f.avx512vl = bit(ebx, 31);
    f.avx512_vnni = bit(ecx, 11);
    f.amx_bf16 = bit(edx, 22);
    f.amx_tile = bit(edx, 24);
    f.amx_int8 = bit(edx, 25);
  }
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) {
    f.avx_vnni = bit(eax, 4);
    f.avx512_bf16 = bit(eax, 5);
  }
  if (f.osxsave) f.xcr0 = read_xcr0();
#endif
  const uint64_t tiles = kXcr0TileCfg | kXcr0TileData;
  if (f.amx_tile && (f.xcr0 & tiles) == tiles) request_amx(f);
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = read_features();
  return f;
}

std::string cpu_feature_names(const CpuFeatures& f) {
  const std::pair<bool, const char*> all[] = {
      {f.avx2, "avx2"},
      {f.fma, "fma"},
      {f.f16c, "f16c"},
      {f.avx512f, "avx512f"},
      {f.avx512bw, "avx512bw"},
      {f.avx512vl, "avx512vl"},
      {f.avx512dq, "avx512dq"},
      {f.avx512_vnni, "avx512_vnni"},
      {f.avx512_bf16, "avx512_bf16"},
      {f.avx_vnni, "avx_vnni"},
      {f.amx_tile, "amx_tile"},
      {f.amx_int8, "amx_int8"},
      {f.amx_bf16, "amx_bf16"},
  };
  std::string s;
  for (const auto& [has, name] : all) {
    if (!has) continue;
    if (!s.empty()) s += ' ';
    s += name;
  }
  return s.empty() ? "(none of the above)" : s;
}

std::string xcr0_hex(uint64_t xcr0) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(xcr0));
  return buf;
}

std::string xcr0_state_names(uint64_t xcr0) {
  const std::pair<uint64_t, const char*> all[] = {
      {kXcr0Sse, "sse"},
      {kXcr0Avx, "avx"},
      {kXcr0Opmask, "opmask"},
      {kXcr0ZmmHi256, "zmm_hi256"},
      {kXcr0Hi16Zmm, "hi16_zmm"},
      {kXcr0TileCfg, "xtilecfg"},
      {kXcr0TileData, "xtiledata"},
  };
  std::string s;
  for (const auto& [mask, name] : all) {
    if ((xcr0 & mask) == 0) continue;
    if (!s.empty()) s += ' ';
    s += name;
  }
  return s.empty() ? "(none)" : s;
}

}  // namespace packinfer
