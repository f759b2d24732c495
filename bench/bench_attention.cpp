// Attention micro-benchmarks on the SmolLM2-135M shape (9 query heads, 3 KV heads, head_dim 64,
// KV blocks of 16): causal prefill of 512 queries over themselves, and one decode query over 4096
// cached positions. Single thread, every instruction-set level with an attention kernel of its
// own. GFLOP/s counts 4 * head_dim flops (2 for QK, 2 for PV) per (query, key, head) pair the
// causal mask lets through.
//
// BM_Format/<format>/<level>: the Qwen2.5-0.5B shape (14 query heads, 2 KV heads, head_dim 64,
// blocks of 16) reading a KvStorage of each KV format through the seam: the last 512-query
// chunk of a 4k-token prefill (queries at positions 3584..4095) and a decode query at 4095.
// "<level>+scalar_codecs" is that level's attention with the scalar codecs (how every level read
// quantized caches before the SIMD codecs).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "bench_levels.h"
#include "kernels/attention.h"
#include "kv/kv_storage.h"

namespace packinfer {
namespace {

using Kernel = AttentionFn;

struct Setup {
  AttentionShape shape{9, 3, 64, 16, 0.125f};
  std::vector<float> k, v, q, out;
  std::vector<int32_t> table;
  int64_t block_stride = 0;
  int64_t row = 0;

  explicit Setup(int64_t n_pos, int64_t n_q) {
    const int64_t n_blocks = (n_pos + shape.block_size - 1) / shape.block_size;
    block_stride = static_cast<int64_t>(shape.n_kv_heads) * shape.block_size * shape.head_dim;
    row = static_cast<int64_t>(shape.n_heads) * shape.head_dim;
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    k.resize(n_blocks * block_stride);
    v.resize(n_blocks * block_stride);
    q.resize(n_q * row);
    out.resize(n_q * row);
    for (float& x : k) x = u(rng);
    for (float& x : v) x = u(rng);
    for (float& x : q) x = u(rng);
    table.resize(n_blocks);
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), rng);  // a realistic non-contiguous cache
  }

  // Runs every KV head of queries [0, n_q) at positions pos0 ...
  void run(Kernel kernel, int64_t n_q, int64_t pos0) {
    const KvLayerView kv = f32_layer_view(k.data(), v.data(), block_stride);
    for (int h = 0; h < shape.n_kv_heads; ++h) {
      AttentionItem it{q.data(), row, out.data(), row, 0, n_q, pos0, h, table.data()};
      kernel(shape, kv, it);
    }
  }

  double flops(int64_t n_q, int64_t pos0) const {
    double pairs = 0;
    for (int64_t i = 0; i < n_q; ++i) pairs += static_cast<double>(pos0 + i + 1);
    return pairs * shape.n_heads * 4.0 * shape.head_dim;
  }
};

void run_bench(benchmark::State& state, Isa isa, int64_t n_q, int64_t pos0) {
  if (!bench::level_runs(state, isa)) return;
  const Kernel kernel = kernels_for(isa).attention;
  Setup s(pos0 + n_q, n_q);
  for (auto _ : state) {
    s.run(kernel, n_q, pos0);
    benchmark::DoNotOptimize(s.out.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(s.flops(n_q, pos0), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::OneK::kIs1000);
}

struct FormatSetup {
  AttentionShape shape{14, 2, 64, 16, 0.125f};
  std::vector<float> q, out;
  std::vector<int32_t> table;
  KvStorage storage;
  int64_t row;

  FormatSetup(KvType t, const KernelTable& codecs, int64_t n_pos, int64_t n_q)
      : storage(KvShape{1, 2, 64}, static_cast<int32_t>((n_pos + 15) / 16), 16, KvFormat{t, t},
                codecs),
        row(14 * 64) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    table.resize(static_cast<size_t>((n_pos + 15) / 16));
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), rng);
    std::vector<float> k(128), v(128);
    for (int64_t p = 0; p < n_pos; ++p) {
      for (float& x : k) x = u(rng);
      for (float& x : v) x = u(rng);
      storage.write(0, table[static_cast<size_t>(p / 16)], p, k.data(), v.data());
    }
    q.resize(static_cast<size_t>(n_q * row));
    out.resize(q.size());
    for (float& x : q) x = u(rng);
  }
};

void run_format(benchmark::State& state, KvType t, Isa isa, Isa codec_isa, int64_t n_q,
                int64_t pos0) {
  if (!bench::level_runs(state, isa)) return;
  FormatSetup s(t, kernels_for(codec_isa), pos0 + n_q, n_q);
  const KernelTable& kt = kernels_for(isa);
  const KvLayerView kv = s.storage.layer_view(0);
  for (auto _ : state) {
    for (int h = 0; h < 2; ++h) {
      AttentionItem it{s.q.data(), s.row, s.out.data(), s.row, 0, n_q, pos0, h, s.table.data()};
      attention_with(kt, s.shape, kv, it);
    }
    benchmark::DoNotOptimize(s.out.data());
    benchmark::ClobberMemory();
  }
  double pairs = 0;
  for (int64_t i = 0; i < n_q; ++i) pairs += static_cast<double>(pos0 + i + 1);
  state.counters["FLOP/s"] =
      benchmark::Counter(pairs * 14 * 4.0 * 64, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::OneK::kIs1000);
}

const int kRegistered = [] {
  for (KvType t :
       {KvType::F32, KvType::F16, KvType::Q8_0, KvType::Q4_0, KvType::Kivi4, KvType::Kivi2}) {
    for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
      for (Isa codecs : {Isa::Scalar, isa}) {
        const std::string name = std::string(kv_type_name(t)) + "/" + std::string(isa_name(isa)) +
                                 (codecs == Isa::Scalar ? "+scalar_codecs" : "");
        benchmark::RegisterBenchmark(("BM_FormatPrefill/" + name).c_str(), run_format, t, isa,
                                     codecs, 512, 3584)
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("BM_FormatDecode/" + name).c_str(), run_format, t, isa,
                                     codecs, 1, 4095)
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  for (Isa isa : bench::levels_with_own([](const KernelTable& k) { return k.attention; })) {
    const std::string name(isa_name(isa));
    benchmark::RegisterBenchmark(("BM_Prefill/" + name).c_str(), run_bench, isa, 512, 0)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_Decode/" + name).c_str(), run_bench, isa, 1, 4095)
        ->Unit(benchmark::kMicrosecond);
  }
  return 0;
}();

}  // namespace
}  // namespace packinfer

PACKINFER_BENCHMARK_MAIN()
