#include "kernels/isa_select.h"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include "kernels/cpu_features.h"
#include "packinfer/error.h"

namespace packinfer {
namespace {

// Names of the features in `want` whose flag is false.
std::string lacking(std::initializer_list<std::pair<bool, const char*>> want) {
  std::string s;
  for (const auto& [has, name] : want) {
    if (has) continue;
    if (!s.empty()) s += ' ';
    s += name;
  }
  return s;
}

// What the OS refused for `isa`, "" if nothing (CPU features are checked separately).
std::string os_refusal(Isa isa, const CpuFeatures& f) {
  const uint64_t avx = kXcr0Sse | kXcr0Avx;
  const uint64_t zmm = kXcr0Opmask | kXcr0ZmmHi256 | kXcr0Hi16Zmm;
  const uint64_t tiles = kXcr0TileCfg | kXcr0TileData;
  switch (isa) {
    case Isa::Scalar:
    case Isa::Avx512Vnni:  // no register state beyond avx512's
      return "";
    case Isa::Avx2:
      if (!f.osxsave) return "the OS does not enable XSAVE (CPUID OSXSAVE is 0)";
      if ((f.xcr0 & avx) != avx)
        return "the OS does not save AVX state (XCR0 " + xcr0_hex(f.xcr0) + ")";
      return "";
    case Isa::Avx512:
      if ((f.xcr0 & zmm) != zmm)
        return "the OS does not save opmask/ZMM state (XCR0 " + xcr0_hex(f.xcr0) + ")";
      return "";
    case Isa::Amx:
      if ((f.xcr0 & tiles) != tiles)
        return "the OS does not save AMX tile state (XCR0 " + xcr0_hex(f.xcr0) + ")";
      if (f.amx_permission == AmxPermission::Granted) return "";
      if (f.amx_permission == AmxPermission::Refused) return "Linux refused AMX: " + f.amx_refusal;
      return "AMX tile data permission was not requested";
  }
  return "";
}

std::string cpu_lacks(Isa isa, const CpuFeatures& f) {
  switch (isa) {
    case Isa::Scalar:
      return "";
    case Isa::Avx2:
      return lacking({{f.avx2, "avx2"}, {f.fma, "fma"}, {f.f16c, "f16c"}});
    case Isa::Avx512:
      return lacking({{f.avx512f, "avx512f"},
                      {f.avx512bw, "avx512bw"},
                      {f.avx512vl, "avx512vl"},
                      {f.avx512dq, "avx512dq"}});
    case Isa::Avx512Vnni:
      return lacking({{f.avx512_vnni, "avx512_vnni"}, {f.avx512_bf16, "avx512_bf16"}});
    case Isa::Amx:
      return lacking(
          {{f.amx_tile, "amx_tile"}, {f.amx_int8, "amx_int8"}, {f.amx_bf16, "amx_bf16"}});
  }
  return "";
}

}  // namespace

IsaDetection detect_isa(const CpuFeatures& f) {
  IsaDetection d;
  bool below_usable = true;
  for (Isa isa : kAllIsas) {
    LevelStatus& s = d.levels[isa_index(isa)];
    s.cpu_lacks = cpu_lacks(isa, f);
    // The OS is only asked about what the CPU has.
    if (s.cpu_lacks.empty()) s.refused = os_refusal(isa, f);
    s.usable = below_usable && s.cpu_lacks.empty() && s.refused.empty();
    if (s.usable) d.level = isa;
    below_usable = s.usable;
  }
  return d;
}

IsaChoice choose_isa(const CpuFeatures& f, const char* isa_env, const char* no_avx2_env) {
  IsaChoice c;
  c.detection = detect_isa(f);
  c.detected = c.detection.level;
  // The OS refusing a level the CPU has is worth a line: the user expects that level. (A CPU
  // without a level is normal and says nothing.)
  if (c.detected != Isa::Amx) {
    const Isa next = static_cast<Isa>(isa_index(c.detected) + 1);
    const LevelStatus& s = c.detection.levels[isa_index(next)];
    if (!s.refused.empty()) {
      c.notices.push_back("CPU has " + std::string(isa_name(next)) + " but " + s.refused +
                          "; using " + std::string(isa_name(c.detected)));
    }
  }

  c.active = c.detected;
  c.reason = "detected";
  if (isa_env != nullptr && *isa_env != '\0') {
    const std::optional<Isa> want = parse_isa(isa_env);
    if (!want) {
      throw Error("PACKINFER_ISA=\"" + std::string(isa_env) +
                  "\" is not an instruction-set level; valid names: " + isa_name_list());
    }
    c.reason = "PACKINFER_ISA=" + std::string(isa_env);
    if (isa_index(*want) > isa_index(c.detected)) {
      const LevelStatus& s = c.detection.levels[isa_index(*want)];
      c.notices.push_back("PACKINFER_ISA=" + std::string(isa_env) +
                          " is above what this machine runs (" +
                          (s.cpu_lacks.empty() ? s.refused : "CPU lacks " + s.cpu_lacks) +
                          "); using " + std::string(isa_name(c.detected)));
      c.reason += ", above the detected level";
    } else {
      c.active = *want;
    }
  } else if (no_avx2_env != nullptr) {
    c.active = Isa::Scalar;
    c.reason = "PACKINFER_NO_AVX2 (same as PACKINFER_ISA=scalar)";
  }
  return c;
}

const IsaChoice& isa_choice() {
  // If choose_isa throws, the static stays uninitialised and the next call throws again.
  static const IsaChoice c = [] {
    IsaChoice r =
        choose_isa(cpu_features(), std::getenv("PACKINFER_ISA"), std::getenv("PACKINFER_NO_AVX2"));
    for (const std::string& n : r.notices) std::fprintf(stderr, "packinfer: %s\n", n.c_str());
    return r;
  }();
  return c;
}

Isa active_isa() { return isa_choice().active; }

Isa detected_isa() {
  static const Isa level = detect_isa(cpu_features()).level;
  return level;
}

bool isa_supported(Isa isa) { return isa_index(isa) <= isa_index(detected_isa()); }

}  // namespace packinfer
