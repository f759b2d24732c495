// Decode-time GEMV cost per weight type and instruction-set level (those with a kernel of their
// own for the type): one vec_dot per row over a whole matrix, single thread, reported as GB/s of
// weight bytes streamed (the decode step is memory-bound, so this should approach the one-core
// memory bandwidth measured by BM_StreamSum). 1536 rows is an FFN matrix of SmolLM2-135M, 49152 its
// embedding/LM head; 196608 rows exceed the 32 MB L3 for every type, so they measure DRAM, not
// cache.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "bench_levels.h"
#include "gguf/ggml_types.h"
#include "kernels/fp16.h"
#include "kernels/type_kernels.h"

namespace packinfer {
namespace {

struct TypeCase {
  GgmlType type;
  std::vector<int> f16_offsets;  // f16 scales inside each block, made finite and small
};

std::vector<uint8_t> random_matrix(const TypeCase& c, int64_t rows, int64_t cols) {
  const auto traits = *ggml_type_traits(static_cast<uint32_t>(c.type));
  const int64_t row_bytes = ggml_row_size(traits, cols);
  std::vector<uint8_t> m(static_cast<size_t>(rows * row_bytes));
  std::mt19937_64 rng(42);
  for (size_t i = 0; i + 8 <= m.size(); i += 8) {
    const uint64_t r = rng();
    std::memcpy(&m[i], &r, 8);
  }
  if (c.type == GgmlType::F32) {  // random bytes may be NaN; use small floats
    for (size_t i = 0; i + 4 <= m.size(); i += 4) {
      const float v = static_cast<float>(static_cast<int8_t>(m[i])) / 1024.0f;
      std::memcpy(&m[i], &v, 4);
    }
  }
  if (c.type == GgmlType::F16 || c.type == GgmlType::BF16) {
    for (size_t i = 0; i + 2 <= m.size(); i += 2) {
      const uint16_t h = c.type == GgmlType::F16 ? fp32_to_fp16(m[i] / 4096.0f) : 0x3c00 + m[i];
      std::memcpy(&m[i], &h, 2);
    }
  }
  const uint16_t scale = fp32_to_fp16(0.01f);
  for (int64_t b = 0; b < static_cast<int64_t>(m.size()) / traits.type_size; ++b) {
    for (int off : c.f16_offsets) std::memcpy(&m[b * traits.type_size + off], &scale, 2);
  }
  return m;
}

void bm_gemv(benchmark::State& state, TypeCase c, Isa isa) {
  const int64_t rows = state.range(0), cols = state.range(1);
  if (!bench::level_runs(state, isa)) return;
  const TypeKernels* k = kernels_for(isa).type(c.type);
  if (k == nullptr) {
    state.SkipWithError("no kernel");
    return;
  }
  const auto traits = *ggml_type_traits(static_cast<uint32_t>(c.type));
  const int64_t row_bytes = ggml_row_size(traits, cols);
  const std::vector<uint8_t> w = random_matrix(c, rows, cols);
  std::vector<float> x(cols), y(rows);
  for (int64_t i = 0; i < cols; ++i) x[i] = static_cast<float>(i % 17) * 0.01f - 0.08f;
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; ++r) y[r] = k->dot(w.data() + r * row_bytes, x.data(), cols);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * rows * row_bytes);
}

// The integer path: x quantized once per product (timed too), then dot_act per row.
void bm_gemv_int8(benchmark::State& state, TypeCase c, Isa isa) {
  const int64_t rows = state.range(0), cols = state.range(1);
  if (!bench::level_runs(state, isa)) return;
  const TypeKernels* k = kernels_for(isa).type(c.type);
  if (k == nullptr || k->dot_act == nullptr) {
    state.SkipWithError("no kernel");
    return;
  }
  const auto traits = *ggml_type_traits(static_cast<uint32_t>(c.type));
  const int64_t row_bytes = ggml_row_size(traits, cols);
  const std::vector<uint8_t> w = random_matrix(c, rows, cols);
  std::vector<float> x(cols), y(rows);
  std::vector<uint8_t> act(static_cast<size_t>(k->act_bytes(cols)));
  for (int64_t i = 0; i < cols; ++i) x[i] = static_cast<float>(i % 17) * 0.01f - 0.08f;
  for (auto _ : state) {
    k->quantize_act(x.data(), act.data(), cols);
    for (int64_t r = 0; r < rows; ++r)
      y[r] = k->dot_act(w.data() + r * row_bytes, act.data(), cols);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * rows * row_bytes);
}

void bm_dequant(benchmark::State& state, TypeCase c, Isa isa) {
  const int64_t rows = state.range(0), cols = state.range(1);
  if (!bench::level_runs(state, isa)) return;
  const TypeKernels* k = kernels_for(isa).type(c.type);
  if (k == nullptr) {
    state.SkipWithError("no kernel");
    return;
  }
  const auto traits = *ggml_type_traits(static_cast<uint32_t>(c.type));
  const int64_t row_bytes = ggml_row_size(traits, cols);
  const std::vector<uint8_t> w = random_matrix(c, rows, cols);
  std::vector<float> out(cols);  // one row at a time stays in L1, like a GEMM panel
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; ++r) k->dequant(w.data() + r * row_bytes, out.data(), cols);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * rows * row_bytes);
  state.counters["Gelem/s"] = benchmark::Counter(static_cast<double>(rows * cols),
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

// STREAM-like reference: sum of 512 MB of f32, one thread (the most a single core can pull).
void BM_StreamSum(benchmark::State& state) {
  const size_t n = (512u << 20) / sizeof(float);
  std::vector<float> a(n, 1.0f);
  for (auto _ : state) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (size_t i = 0; i < n; i += 8) {
      s0 += a[i];
      s1 += a[i + 1];
      s2 += a[i + 2];
      s3 += a[i + 3];
      s4 += a[i + 4];
      s5 += a[i + 5];
      s6 += a[i + 6];
      s7 += a[i + 7];
    }
    benchmark::DoNotOptimize(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n * sizeof(float)));
}
BENCHMARK(BM_StreamSum)->Unit(benchmark::kMillisecond)->MinTime(1.0);

const std::vector<TypeCase>& cases() {
  static const std::vector<TypeCase> c = {
      {GgmlType::F32, {}},      {GgmlType::F16, {}},      {GgmlType::BF16, {}},
      {GgmlType::Q8_0, {0}},    {GgmlType::Q4_0, {0}},    {GgmlType::Q2_K, {80, 82}},
      {GgmlType::Q4_K, {0, 2}}, {GgmlType::Q5_K, {0, 2}}, {GgmlType::Q6_K, {208}},
  };
  return c;
}

// Row lengths must be multiples of the block size: 576 (SmolLM2) for the types with blocks of
// 32, 768 (the tiny model's FFN) for the K-quants, whose super-blocks are 256 long (llama.cpp
// cannot use K-quants for 576-wide matrices either). 2048-wide rows show the per-row overhead.
void shapes(benchmark::internal::Benchmark* b, int64_t cols) {
  b->Args({1536, cols})->Args({49152, cols})->Args({196608, cols})->Args({8192, 2048});
  b->ArgNames({"rows", "cols"})->Unit(benchmark::kMillisecond);
}

const int kRegistered = [] {
  for (const TypeCase& c : cases()) {
    const std::string name = ggml_type_name(static_cast<uint32_t>(c.type));
    const int64_t cols =
        ggml_type_traits(static_cast<uint32_t>(c.type))->block_size == 256 ? 768 : 576;
    const auto levels = bench::levels_with_own([&](const KernelTable& k) {
      const TypeKernels* t = k.type(c.type);
      return std::tuple(t->dequant, t->dot, t->dot_act);
    });
    for (Isa level : levels) {
      const std::string isa(isa_name(level));
      shapes(
          benchmark::RegisterBenchmark(("BM_Gemv/" + name + "/" + isa).c_str(), bm_gemv, c, level),
          cols);
      if (kernels_for(level).type(c.type)->dot_act != nullptr) {
        shapes(benchmark::RegisterBenchmark(("BM_GemvInt8/" + name + "/" + isa).c_str(),
                                            bm_gemv_int8, c, level),
               cols);
      }
      benchmark::RegisterBenchmark(("BM_Dequant/" + name + "/" + isa).c_str(), bm_dequant, c, level)
          ->Args({1536, cols})
          ->ArgNames({"rows", "cols"})
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return 0;
}();

}  // namespace
}  // namespace packinfer

PACKINFER_BENCHMARK_MAIN()
