#pragma once
// Runtime CPU detection: AVX2 kernels run only where the CPU has AVX2+FMA+F16C. Tests can force
// the scalar reference path to compare the two.
namespace packinfer {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
};

const CpuFeatures& cpu_features();

// True when the AVX2 kernels may be used: the CPU has them, PACKINFER_NO_AVX2 is unset in the
// environment, and set_force_scalar(true) was not called.
bool use_avx2();
void set_force_scalar(bool on);

}  // namespace packinfer
