#pragma once
// Seconds elapsed since a steady-clock time point (the I/O statistics of the KV tiers).
#include <chrono>

namespace packinfer {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace packinfer
