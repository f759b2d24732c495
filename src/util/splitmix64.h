#pragma once
// splitmix64: tiny, well mixed, and identical everywhere. Benchmarks draw their workloads from it
// rather than std:: distributions, whose output is implementation-defined, so the same seed gives
// the same prompts and arrival times with every standard library.
#include <cstdint>

namespace packinfer {

struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t below(uint64_t n) {  // [0, n); the modulo bias is negligible for n << 2^64
    return next() % n;
  }
};

}  // namespace packinfer
