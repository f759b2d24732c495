#pragma once
// What the CPU and the operating system offer, read once: CPUID feature bits, the register state
// the OS saves on a context switch (XCR0), and on Linux whether the kernel lets this process use
// AMX tile data. A CPU feature is only usable when all three agree; isa_select.h turns these
// facts into an instruction-set level.
#include <cstdint>
#include <string>

namespace packinfer {

// XCR0 bits (Intel SDM vol. 1, 13.1): which register state the OS saves and restores.
inline constexpr uint64_t kXcr0Sse = 1u << 1;
inline constexpr uint64_t kXcr0Avx = 1u << 2;                 // upper halves of ymm0-15
inline constexpr uint64_t kXcr0Opmask = 1u << 5;              // k0-k7
inline constexpr uint64_t kXcr0ZmmHi256 = 1u << 6;            // upper halves of zmm0-15
inline constexpr uint64_t kXcr0Hi16Zmm = 1u << 7;             // zmm16-31
inline constexpr uint64_t kXcr0TileCfg = uint64_t{1} << 17;   // AMX TILECFG
inline constexpr uint64_t kXcr0TileData = uint64_t{1} << 18;  // AMX tile registers

enum class AmxPermission {
  NotAsked,  // the CPU or XCR0 lacks AMX, so there was nothing to ask
  Granted,
  Refused,  // the kernel said no (old kernel, seccomp, too small sigaltstack, ...)
};

struct CpuFeatures {
  // CPUID
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx_vnni = false;
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
  // OS
  bool osxsave = false;  // XGETBV may be executed; xcr0 is 0 otherwise
  uint64_t xcr0 = 0;
  AmxPermission amx_permission = AmxPermission::NotAsked;
  std::string amx_refusal;  // why, when Refused (e.g. "arch_prctl(ARCH_REQ_XCOMP_PERM): ...")
};

// Read once per process (thread-safe). On Linux, when CPUID and XCR0 show AMX, this asks the
// kernel for AMX tile data permission (arch_prctl ARCH_REQ_XCOMP_PERM): without it the first
// tile instruction kills the process.
const CpuFeatures& cpu_features();

// "avx2 fma f16c avx512f ..." (only those present), for reports.
std::string cpu_feature_names(const CpuFeatures& f);
// "sse avx opmask zmm_hi256 hi16_zmm ..." (the XCR0 state components set), for reports.
std::string xcr0_state_names(uint64_t xcr0);
// XCR0 as "0x...", for reports and errors.
std::string xcr0_hex(uint64_t xcr0);

}  // namespace packinfer
