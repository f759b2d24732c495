// A small STREAM-like memory bandwidth benchmark: the ceiling the decode GEMV is measured
// against (a decode step reads every weight once, so tokens/s x weight bytes <= read bandwidth).
//
//   bench_stream [--mib N] [--reps R]
//
// Three arrays of N MiB each (default 256, far beyond any L3 here) of floats; for 1 and 2
// threads, each thread owning a contiguous slice:
//   read   s += a[i]               bytes counted: 4 per element
//   triad  a[i] = b[i] + q * c[i]  bytes counted: 12 per element (STREAM's convention: the
//                                  write-allocate read of a[] is not counted)
// Prints the best of R repetitions (as STREAM does) and the median, in GB/s (1e9 bytes/s).
// Written as a plain program rather than a Google benchmark so each figure is one pass over
// memory timed by the wall clock, threads started before the clock runs.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kernels/system_info.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Arrays {
  std::vector<float> a, b, c;
};

// Sum of a[i0, i1), written so the compiler keeps several independent accumulators.
float read_slice(const float* a, size_t i0, size_t i1) {
  float s[16] = {};
  size_t i = i0;
  for (; i + 16 <= i1; i += 16) {
    for (int k = 0; k < 16; ++k) s[k] += a[i + k];
  }
  for (; i < i1; ++i) s[0] += a[i];
  float t = 0;
  for (float v : s) t += v;
  return t;
}

void triad_slice(float* a, const float* b, const float* c, float q, size_t i0, size_t i1) {
  for (size_t i = i0; i < i1; ++i) a[i] = b[i] + q * c[i];
}

// Seconds per repetition of `kernel` run by `threads` threads on their slices of n elements.
template <class Kernel>
std::vector<double> run(int threads, int reps, size_t n, Kernel kernel) {
  std::vector<double> times;
  std::barrier start(threads + 1), done(threads + 1);
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const size_t i0 = n * t / threads, i1 = n * (t + 1) / threads;
      while (true) {
        start.arrive_and_wait();
        if (stop.load()) return;
        kernel(t, i0, i1);
        done.arrive_and_wait();
      }
    });
  }
  for (int r = 0; r < reps; ++r) {
    start.arrive_and_wait();
    const auto t0 = Clock::now();
    done.arrive_and_wait();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  stop = true;
  start.arrive_and_wait();
  for (auto& th : pool) th.join();
  return times;
}

void report(const char* name, int threads, double bytes, std::vector<double> times) {
  std::sort(times.begin(), times.end());
  const double best = bytes / times.front() / 1e9;
  const double median = bytes / times[times.size() / 2] / 1e9;
  std::printf("| %-5s | %d | %7.1f | %7.1f |\n", name, threads, best, median);
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 256;
  int reps = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--mib") == 0) mib = std::strtoul(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::max(1, std::atoi(argv[i + 1]));
  }
  const size_t n = mib * 1024 * 1024 / sizeof(float);
  Arrays arr;
  // Touch every page first (the first pass would otherwise time page faults).
  arr.a.assign(n, 1.0f);
  arr.b.assign(n, 2.0f);
  arr.c.assign(n, 0.5f);
  std::printf("%s\n", packinfer::system_summary().c_str());
  std::printf("arrays: 3 x %zu MiB of f32, best / median of %d repetitions, GB/s = 1e9 B/s\n\n",
              mib, reps);
  std::printf("| test  | threads | best GB/s | median GB/s |\n|---|---|---|---|\n");
  volatile float sink = 0;
  for (int threads : {1, 2}) {
    std::vector<float> partial(static_cast<size_t>(threads) * 16, 0.0f);
    report("read", threads, 4.0 * n, run(threads, reps, n, [&](int t, size_t i0, size_t i1) {
             partial[static_cast<size_t>(t) * 16] += read_slice(arr.a.data(), i0, i1);
           }));
    report("triad", threads, 12.0 * n, run(threads, reps, n, [&](int, size_t i0, size_t i1) {
             triad_slice(arr.a.data(), arr.b.data(), arr.c.data(), 3.0f, i0, i1);
           }));
    for (float v : partial) sink = sink + v;
  }
  return 0;
}
