// f32 against int8 activations (PACKINFER_MATMUL_ACT) for quantized weights, per instruction-set
// level: one matmul of a SmolLM2-135M FFN shape (N = 1536, K = 576, weights from random
// normal floats quantized by the reference quantizers, Q4_K/Q5_0 from random valid blocks) for
// M = 1, 4 (decode) and 512 (prefill), one thread.
//
//   bench_int8_matmul [reps]
//
// Times are the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), best of `reps`: on a shared
// machine that is far steadier than wall time, and with a 1-thread pool all work is on this
// thread. The weights (0.9-1.0 MB) stay in L2/L3, so this measures the kernels, not DRAM.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa_select.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "kernels/system_info.h"

namespace {
using namespace packinfer;

double thread_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Random blocks whose f16 scale (at byte offsets `scales`) is small and finite.
std::vector<uint8_t> random_blocks(size_t bytes, int block_bytes, std::initializer_list<int> scales,
                                   std::mt19937& rng) {
  std::vector<uint8_t> b(bytes);
  for (auto& v : b) v = static_cast<uint8_t>(rng());
  for (size_t o = 0; o + block_bytes <= bytes; o += block_bytes) {
    for (int s : scales) {
      const uint16_t h = 0x1c00 | (rng() & 0x1ff);  // ~0.004..0.008
      std::memcpy(&b[o + s], &h, 2);
    }
  }
  return b;
}
}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  ThreadPool pool(1);
  const int64_t N = 1536, K = 576;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  std::vector<float> wf(static_cast<size_t>(N * K)), x(static_cast<size_t>(512 * K));
  std::vector<float> y(static_cast<size_t>(512 * N));
  for (auto& v : wf) v = nd(rng) * 0.02f;
  for (auto& v : x) v = nd(rng);
  struct Case {
    GgmlType type;
    std::vector<uint8_t> bytes;
    int64_t row_bytes;
  };
  std::vector<Case> cases;
  {
    Case c{GgmlType::Q8_0, std::vector<uint8_t>(static_cast<size_t>(N * K / 32 * 34)), K / 32 * 34};
    for (int64_t n = 0; n < N; ++n) quantize_row_q8_0(&wf[n * K], &c.bytes[n * c.row_bytes], K);
    cases.push_back(std::move(c));
  }
  {
    Case c{GgmlType::Q4_0, std::vector<uint8_t>(static_cast<size_t>(N * K / 32 * 18)), K / 32 * 18};
    for (int64_t n = 0; n < N; ++n) quantize_row_q4_0(&wf[n * K], &c.bytes[n * c.row_bytes], K);
    cases.push_back(std::move(c));
  }
  cases.push_back({GgmlType::Q5_0, random_blocks(N * K / 32 * 22, 22, {0}, rng), K / 32 * 22});
  const int64_t K4 = 512;  // the K-quants need K % 256 == 0
  cases.push_back(
      {GgmlType::Q4_K, random_blocks(N * K4 / 256 * 144, 144, {0, 2}, rng), K4 / 256 * 144});
  std::printf("%s\n", system_summary(1).c_str());
  std::printf("N=%lld K=%lld (Q4_K: K=%lld), 1 thread, best of %d, thread CPU time\n\n",
              static_cast<long long>(N), static_cast<long long>(K), static_cast<long long>(K4),
              reps);
  std::printf("| type | level | M | f32 act us | int8 act us | speed-up | int8 GFLOP/s |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const Case& c : cases) {
    const int64_t k = c.type == GgmlType::Q4_K ? K4 : K;
    const WeightMatrix w{c.type, c.bytes.data(), N, k, c.row_bytes};
    for (Isa isa : kAllIsas) {
      if (!isa_supported(isa) || isa == Isa::Scalar) continue;
      for (int64_t M : {1, 4, 512}) {
        double best[2] = {1e9, 1e9};
        const int r = M == 512 ? reps : reps * 40;
        for (int i = 0; i < r; ++i) {
          for (int a = 0; a < 2; ++a) {  // alternate the two modes
            const auto act = a == 0 ? MatmulActivations::F32 : MatmulActivations::Int8;
            const double t0 = thread_cpu_seconds();
            matmul_with(kernels_for(isa), w, x.data(), k, M, y.data(), N, pool, act);
            best[a] = std::min(best[a], thread_cpu_seconds() - t0);
          }
        }
        std::printf("| %s | %s | %lld | %.1f | %.1f | %.2fx | %.0f |\n",
                    ggml_type_name(static_cast<uint32_t>(c.type)).c_str(),
                    std::string(isa_name(isa)).c_str(), static_cast<long long>(M), best[0] * 1e6,
                    best[1] * 1e6, best[0] / best[1], 2.0 * M * N * k / best[1] / 1e9);
      }
    }
  }
  return 0;
}
