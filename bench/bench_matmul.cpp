// matmul throughput: GFLOP/s of the prefill GEMM at M = 512 on the SmolLM2-135M projection
// shapes (F32 and F16 weights, 1 and 2 threads) next to OpenBLAS cblas_sgemm on the same shapes,
// and GB/s of weight bytes streamed by the decode GEMV, for every instruction-set level with a
// GEMM (GEMV) kernel of its own; levels the machine lacks are skipped.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "bench_levels.h"
#include "kernels/fp16.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kernels/weight_panels.h"
#include "util/thread_pool.h"

#ifdef PACKINFER_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace packinfer {
namespace {

struct Shape {
  int64_t K, N;
};
// q/o projection, k/v projection, gate/up, down.
constexpr Shape kPrefillShapes[] = {{576, 576}, {576, 192}, {576, 1536}, {1536, 576}};
// LM head (vocab 49152) and the MLP width.
constexpr Shape kDecodeShapes[] = {{576, 49152}, {576, 1536}};

ThreadPool& pool_of(int threads) {
  static ThreadPool one(1), two(2);
  return threads == 1 ? one : two;
}

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = uni(rng);
  return v;
}

// Weights of type F32 or F16 holding random values; F16 optionally repacked into panels as the
// model loader does on a level with the panel GEMM.
struct Weights {
  std::vector<float> f32;
  std::vector<uint16_t> f16;
  Panels panels;
  WeightMatrix w;
  Weights(GgmlType t, int64_t N, int64_t K, bool with_panels = false)
      : f32(random_floats(N * K, 1)) {
    if (t == GgmlType::F16) {
      f16.resize(f32.size());
      for (size_t i = 0; i < f32.size(); ++i) f16[i] = fp32_to_fp16(f32[i]);
      w = WeightMatrix{t, f16.data(), N, K, K * 2};
      if (with_panels) {
        panels = pack_panels(w);
        w.panels = panels.data.get();
      }
    } else {
      w = WeightMatrix{t, f32.data(), N, K, K * 4};
    }
  }
};

// Args: type (0 = F32, 1 = F16 rows as in the file, 2 = F16 repacked into panels), shape index,
// threads, M, level (index of Isa).
void BM_Matmul(benchmark::State& state, bool decode) {
  const GgmlType t = state.range(0) == 0 ? GgmlType::F32 : GgmlType::F16;
  const bool with_panels = state.range(0) == 2;
  const Shape s = decode ? kDecodeShapes[state.range(1)] : kPrefillShapes[state.range(1)];
  const int threads = static_cast<int>(state.range(2));
  const int64_t M = state.range(3);
  const Isa isa = kAllIsas[state.range(4)];
  if (!bench::level_runs(state, isa)) return;
  const KernelTable& kt = kernels_for(isa);
  if (with_panels && kt.gemm_panel_f16 == nullptr) {
    state.SkipWithError((std::string(isa_name(isa)) + " has no panel GEMM tile").c_str());
    return;
  }
  Weights wt(t, s.N, s.K, with_panels);
  const std::vector<float> x = random_floats(M * s.K, 2);
  std::vector<float> y(static_cast<size_t>(M * s.N));
  ThreadPool& pool = pool_of(threads);
  for (auto _ : state) {
    matmul_with(kt, wt.w, x.data(), s.K, M, y.data(), s.N, pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * M * s.N * s.K * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_GB/s"] =
      benchmark::Counter(static_cast<double>(s.N * wt.w.row_bytes) * 1e-9,
                         benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(t == GgmlType::F32 ? "F32"
                             : with_panels      ? "F16 panels"
                                                : "F16") +
                 " K=" + std::to_string(s.K) + " N=" + std::to_string(s.N) + " " +
                 std::string(isa_name(isa)));
}

void BM_Gemm(benchmark::State& state) { BM_Matmul(state, false); }
void BM_Gemv(benchmark::State& state) { BM_Matmul(state, true); }

// Levels with a kernel of their own, minus scalar (the GEMM there is only a reference).
std::vector<int64_t> simd_levels(bool decode) {
  std::vector<int64_t> out;
  const auto own = bench::levels_with_own([decode](const KernelTable& k) {
    return decode ? reinterpret_cast<const void*>(k.gemv_f32)
                  : reinterpret_cast<const void*>(k.gemm.micro);
  });
  for (Isa isa : own) {
    if (isa != Isa::Scalar) out.push_back(isa_index(isa));
  }
  return out;
}

BENCHMARK(BM_Gemm)
    ->ArgNames({"type", "shape", "threads", "M", "isa"})
    ->ArgsProduct({{0, 1}, {0, 1, 2, 3}, {1, 2}, {512}, simd_levels(false)})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Gemv)
    ->ArgNames({"type", "shape", "threads", "M", "isa"})
    ->ArgsProduct({{0, 1}, {0, 1}, {1, 2}, {1, 4, 8}, simd_levels(true)})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// How the rate grows with the rows of one call, at every level with a GEMM of its own: a
// chunked-prefill step of a
// few decodes plus a small prompt chunk runs at the left end of this curve, a full step at the
// right.
BENCHMARK(BM_Gemm)
    ->Name("BM_GemmRows")
    ->ArgNames({"type", "shape", "threads", "M", "isa"})
    ->ArgsProduct(
        {{1, 2}, {2, 3}, {2}, {8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 512}, simd_levels(false)})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

#ifdef PACKINFER_HAVE_OPENBLAS
// Args: shape index, threads. y = x · Wᵀ with W row-major [N, K], as matmul computes it.
void BM_OpenBlasSgemm(benchmark::State& state) {
  const Shape s = kPrefillShapes[state.range(0)];
  const int threads = static_cast<int>(state.range(1));
  const int64_t M = 512;
  const std::vector<float> w = random_floats(s.N * s.K, 1);
  const std::vector<float> x = random_floats(M * s.K, 2);
  std::vector<float> y(static_cast<size_t>(M * s.N));
  openblas_set_num_threads(threads);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, s.N, s.K, 1.f, x.data(), s.K, w.data(),
                s.K, 0.f, y.data(), s.N);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * M * s.N * s.K * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("K=" + std::to_string(s.K) + " N=" + std::to_string(s.N));
}
BENCHMARK(BM_OpenBlasSgemm)
    ->ArgNames({"shape", "threads"})
    ->ArgsProduct({{0, 1, 2, 3}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
#endif

}  // namespace
}  // namespace packinfer

PACKINFER_BENCHMARK_MAIN()
