// Instruction-set detection and the PACKINFER_ISA override, on made-up machines: detect_isa and
// choose_isa are pure functions of the CPU/OS features and the environment strings, so every
// case runs on any machine. Plus the kernel tables' layering and this machine's own choice.
#include <gtest/gtest.h>

#include <string>

#include "kernels/isa_select.h"
#include "kernels/kernel_table.h"
#include "kernels/system_info.h"
#include "packinfer/error.h"
#include "support/test_support.h"

namespace packinfer {
namespace {

constexpr uint64_t kAvxState = kXcr0Sse | kXcr0Avx;
constexpr uint64_t kZmmState = kXcr0Opmask | kXcr0ZmmHi256 | kXcr0Hi16Zmm;
constexpr uint64_t kTileState = kXcr0TileCfg | kXcr0TileData;

CpuFeatures zen3() {
  CpuFeatures f;
  f.avx2 = f.fma = f.f16c = true;
  f.osxsave = true;
  f.xcr0 = 1 | kAvxState;
  return f;
}

CpuFeatures zen5() {
  CpuFeatures f = zen3();
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = true;
  f.avx512_vnni = f.avx512_bf16 = f.avx_vnni = true;
  f.xcr0 |= kZmmState;
  return f;
}

CpuFeatures sapphire_rapids() {
  CpuFeatures f = zen5();
  f.amx_tile = f.amx_int8 = f.amx_bf16 = true;
  f.xcr0 |= kTileState;
  f.amx_permission = AmxPermission::Granted;
  return f;
}

TEST(IsaNames, RoundTrip) {
  for (Isa isa : kAllIsas) EXPECT_EQ(parse_isa(isa_name(isa)), isa) << isa_name(isa);
  EXPECT_EQ(isa_name(Isa::Avx512Vnni), "avx512_vnni");
  EXPECT_FALSE(parse_isa("AVX2"));  // names are exact
  EXPECT_FALSE(parse_isa("avx512vnni"));
  EXPECT_FALSE(parse_isa(""));
  EXPECT_EQ(isa_name_list(), "scalar, avx2, avx512, avx512_vnni, amx");
}

TEST(DetectIsa, KnownMachines) {
  EXPECT_EQ(detect_isa(CpuFeatures{}).level, Isa::Scalar);
  EXPECT_EQ(detect_isa(zen3()).level, Isa::Avx2);
  EXPECT_EQ(detect_isa(zen5()).level, Isa::Avx512Vnni);
  EXPECT_EQ(detect_isa(sapphire_rapids()).level, Isa::Amx);
  const IsaDetection d = detect_isa(zen3());
  EXPECT_TRUE(d.levels[isa_index(Isa::Scalar)].usable);
  EXPECT_EQ(d.levels[isa_index(Isa::Avx512)].cpu_lacks, "avx512f avx512bw avx512vl avx512dq");
  EXPECT_EQ(d.levels[isa_index(Isa::Amx)].cpu_lacks, "amx_tile amx_int8 amx_bf16");
}

TEST(DetectIsa, EveryCpuFeatureOfALevelIsNeeded) {
  CpuFeatures f = zen3();
  f.f16c = false;
  EXPECT_EQ(detect_isa(f).level, Isa::Scalar);
  EXPECT_EQ(detect_isa(f).levels[isa_index(Isa::Avx2)].cpu_lacks, "f16c");
  f = zen5();
  f.avx512bw = false;  // Knights Landing-like: F without BW
  EXPECT_EQ(detect_isa(f).level, Isa::Avx2);
  f = zen5();
  f.avx512_bf16 = false;  // Ice Lake: VNNI without BF16
  EXPECT_EQ(detect_isa(f).level, Isa::Avx512);
  f = sapphire_rapids();
  f.amx_bf16 = false;
  EXPECT_EQ(detect_isa(f).level, Isa::Avx512Vnni);
}

TEST(DetectIsa, LevelsAreNested) {
  // AMX without AVX-512 does not make an amx machine.
  CpuFeatures f = sapphire_rapids();
  f.avx512dq = false;
  const IsaDetection d = detect_isa(f);
  EXPECT_EQ(d.level, Isa::Avx2);
  EXPECT_FALSE(d.levels[isa_index(Isa::Amx)].usable);
  EXPECT_TRUE(d.levels[isa_index(Isa::Amx)].cpu_lacks.empty());
}

TEST(DetectIsa, OsStateRefusalsFallBackOneLevel) {
  CpuFeatures f = zen3();
  f.osxsave = false;
  f.xcr0 = 0;
  EXPECT_EQ(detect_isa(f).level, Isa::Scalar);
  EXPECT_NE(detect_isa(f).levels[isa_index(Isa::Avx2)].refused.find("XSAVE"), std::string::npos);

  f = zen5();
  f.xcr0 &= ~kXcr0Hi16Zmm;  // an OS (or VM) that does not save zmm16-31
  IsaDetection d = detect_isa(f);
  EXPECT_EQ(d.level, Isa::Avx2);
  EXPECT_NE(d.levels[isa_index(Isa::Avx512)].refused.find("ZMM"), std::string::npos);

  f = sapphire_rapids();
  f.xcr0 &= ~kXcr0TileData;
  EXPECT_EQ(detect_isa(f).level, Isa::Avx512Vnni);

  f = sapphire_rapids();
  f.amx_permission = AmxPermission::Refused;
  f.amx_refusal = "arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA): Invalid argument";
  d = detect_isa(f);
  EXPECT_EQ(d.level, Isa::Avx512Vnni);
  EXPECT_NE(d.levels[isa_index(Isa::Amx)].refused.find("Invalid argument"), std::string::npos);
}

TEST(ChooseIsa, DefaultsToDetectedWithoutNotice) {
  for (const CpuFeatures& f : {CpuFeatures{}, zen3(), zen5(), sapphire_rapids()}) {
    const IsaChoice c = choose_isa(f, nullptr, nullptr);
    EXPECT_EQ(c.active, c.detected);
    EXPECT_EQ(c.reason, "detected");
    EXPECT_TRUE(c.notices.empty());  // lacking a feature is normal, not worth a notice
  }
  EXPECT_EQ(choose_isa(zen5(), "", nullptr).active, Isa::Avx512Vnni);  // empty = unset
}

TEST(ChooseIsa, RefusalGivesOneNotice) {
  CpuFeatures f = sapphire_rapids();
  f.amx_permission = AmxPermission::Refused;
  f.amx_refusal = "arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA): Operation not permitted";
  const IsaChoice c = choose_isa(f, nullptr, nullptr);
  EXPECT_EQ(c.active, Isa::Avx512Vnni);
  ASSERT_EQ(c.notices.size(), 1u);
  EXPECT_NE(c.notices[0].find("CPU has amx"), std::string::npos) << c.notices[0];
  EXPECT_NE(c.notices[0].find("Operation not permitted"), std::string::npos) << c.notices[0];
  EXPECT_NE(c.notices[0].find("using avx512_vnni"), std::string::npos) << c.notices[0];
}

TEST(ChooseIsa, EnvLowersTheLevel) {
  for (Isa want : kAllIsas) {
    const IsaChoice c = choose_isa(sapphire_rapids(), std::string(isa_name(want)).c_str(), nullptr);
    EXPECT_EQ(c.active, want);
    EXPECT_EQ(c.detected, Isa::Amx);
    EXPECT_EQ(c.reason, "PACKINFER_ISA=" + std::string(isa_name(want)));
    EXPECT_TRUE(c.notices.empty());
  }
}

TEST(ChooseIsa, EnvAboveDetectedGivesNoticeAndDetectedLevel) {
  const IsaChoice c = choose_isa(zen3(), "avx512", nullptr);
  EXPECT_EQ(c.active, Isa::Avx2);
  ASSERT_EQ(c.notices.size(), 1u);
  EXPECT_NE(c.notices[0].find("PACKINFER_ISA=avx512"), std::string::npos) << c.notices[0];
  EXPECT_NE(c.notices[0].find("avx512f"), std::string::npos) << c.notices[0];
  EXPECT_NE(c.notices[0].find("using avx2"), std::string::npos) << c.notices[0];
  EXPECT_EQ(choose_isa(zen5(), "amx", nullptr).active, Isa::Avx512Vnni);
  EXPECT_EQ(choose_isa(CpuFeatures{}, "avx2", nullptr).active, Isa::Scalar);
}

TEST(ChooseIsa, UnknownNameIsAnErrorListingTheNames) {
  for (const char* bad : {"avx", "AVX2", "avx-512", "native", " avx2"}) {
    try {
      choose_isa(zen5(), bad, nullptr);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::string("\"") + bad + "\""), std::string::npos) << msg;
      EXPECT_NE(msg.find("scalar, avx2, avx512, avx512_vnni, amx"), std::string::npos) << msg;
    }
  }
  // Even when PACKINFER_NO_AVX2 would decide anyway: a typo is never silently ignored.
  EXPECT_THROW(choose_isa(zen5(), "avx3", "1"), Error);
}

TEST(ChooseIsa, NoAvx2IsAnAliasOfScalar) {
  const IsaChoice c = choose_isa(zen5(), nullptr, "1");
  EXPECT_EQ(c.active, Isa::Scalar);
  EXPECT_NE(c.reason.find("PACKINFER_NO_AVX2"), std::string::npos);
  EXPECT_EQ(choose_isa(zen5(), nullptr, "").active, Isa::Scalar);  // set, even if empty
  EXPECT_EQ(choose_isa(zen5(), "avx2", "1").active, Isa::Avx2);    // PACKINFER_ISA wins
}

// Each level's table starts as the one below it: what a level does not override is inherited.
TEST(KernelTables, HigherLevelsInheritWhatTheyDoNotOverride) {
  const KernelTable& scalar = kernels_for(Isa::Scalar);
  const KernelTable& avx2 = kernels_for(Isa::Avx2);
  const KernelTable& avx512 = kernels_for(Isa::Avx512);
  for (Isa isa : kAllIsas) EXPECT_EQ(kernels_for(isa).isa, isa);
  EXPECT_EQ(scalar.gemv_f32, nullptr);
  EXPECT_NE(avx2.gemv_f32, nullptr);
  EXPECT_NE(avx2.gemm.micro, scalar.gemm.micro);
  EXPECT_NE(avx512.gemm.micro, avx2.gemm.micro);  // avx512 has its own GEMM tile
  EXPECT_NE(avx512.attention, avx2.attention);    // ... its own attention
  EXPECT_NE(avx512.gemv_f32, avx2.gemv_f32);      // ... and dot-product tiles
  EXPECT_EQ(kernels_for(Isa::Amx).gemv_f16, avx512.gemv_f16);
  EXPECT_EQ(avx512.swiglu, avx2.swiglu);  // ... and inherits the rest
  EXPECT_EQ(avx512.rms_norm, avx2.rms_norm);
  EXPECT_EQ(kernels_for(Isa::Amx).gemm.micro, avx512.gemm.micro);
  // F32 rows are dequantized by a memcpy at every level.
  EXPECT_EQ(avx2.type(GgmlType::F32)->dequant, scalar.type(GgmlType::F32)->dequant);
  for (uint32_t id = 0; id < kTypeSlots; ++id) {
    const GgmlType t = static_cast<GgmlType>(id);
    for (Isa isa : kAllIsas) {
      EXPECT_EQ(kernels_for(isa).type(t) != nullptr, scalar.type(t) != nullptr)
          << ggml_type_name(id) << " " << isa_name(isa);
    }
  }
  EXPECT_EQ(scalar.type(static_cast<GgmlType>(99)), nullptr);
}

TEST(KernelTables, GemmTilesFitTheDriver) {
  for (Isa isa : kAllIsas) {
    const GemmKernel& g = kernels_for(isa).gemm;
    EXPECT_GE(g.mr, 1);
    EXPECT_LE(g.mr, kGemmMaxMR);
    EXPECT_GE(g.nr, 1);
    EXPECT_LE(g.nr, kGemmMaxNR);
    EXPECT_GT(g.kc, 0);
  }
}

// This process: the choice is consistent with this machine and the environment the test runs in.
TEST(ThisMachine, ChoiceIsConsistent) {
  const IsaChoice& c = isa_choice();
  EXPECT_EQ(c.detected, detected_isa());
  EXPECT_LE(isa_index(c.active), isa_index(c.detected));
  EXPECT_EQ(active_isa(), c.active);
  EXPECT_EQ(&active_kernels(), &kernels_for(c.active));
  for (Isa isa : kAllIsas) EXPECT_EQ(isa_supported(isa), isa_index(isa) <= isa_index(c.detected));
  std::printf("%s", system_report().c_str());
  const std::string line = system_summary(2);
  EXPECT_NE(line.find("isa " + std::string(isa_name(c.active))), std::string::npos) << line;
  EXPECT_NE(line.find("2 threads"), std::string::npos) << line;
}

// The CLI: `info --system` without a model, and PACKINFER_ISA as a user meets it.
test::CommandResult cli(const std::string& env, const std::string& args) {
  return test::run_command(env + " '" + test::cli_path() + "' " + args + " 2>&1");
}

TEST(Cli, InfoSystemNeedsNoModel) {
  const test::CommandResult r = cli("", "info --system");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* key :
       {"cpu:", "features:", "os state:", "XCR0", "levels:", "detected:", "in use:"}) {
    EXPECT_NE(r.out.find(key), std::string::npos) << key << " missing in\n" << r.out;
  }
  EXPECT_NE(r.out.find("detected:    " + std::string(isa_name(detected_isa()))), std::string::npos)
      << r.out;
  EXPECT_NE(cli("", "info").status, 0);  // neither a model nor --system
}

TEST(Cli, IsaOverrideIsReported) {
  const test::CommandResult r = cli("PACKINFER_ISA=scalar", "info --system");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("in use:      scalar (PACKINFER_ISA=scalar)"), std::string::npos) << r.out;
  if (detected_isa() != Isa::Amx) {
    const test::CommandResult above = cli("PACKINFER_ISA=amx", "info --system");
    ASSERT_EQ(above.status, 0) << above.out;
    EXPECT_NE(above.out.find("packinfer: PACKINFER_ISA=amx is above what this machine runs"),
              std::string::npos)
        << above.out;
  }
}

TEST(Cli, UnknownIsaNameFailsClearly) {
  const std::string model = test::shared_dir() + "/models/stories260K/stories260K-f32.gguf";
  for (const std::string& args :
       {std::string("info --system"), "run -m '" + model + "' -p 'Once' -n 2 --temp 0"}) {
    const test::CommandResult r = cli("PACKINFER_ISA=avx9000", args);
    EXPECT_NE(r.status, 0) << args << "\n" << r.out;
    EXPECT_NE(r.out.find("PACKINFER_ISA=\"avx9000\" is not an instruction-set level; valid names: "
                         "scalar, avx2, avx512, avx512_vnni, amx"),
              std::string::npos)
        << args << "\n"
        << r.out;
  }
}

}  // namespace
}  // namespace packinfer
