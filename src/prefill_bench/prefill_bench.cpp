#include "prefill_bench/prefill_bench.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "packinfer/error.h"
#include "report/peak_memory.h"

namespace packinfer::prefill_bench {
namespace {

size_t median_index(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  return idx[(idx.size() - 1) / 2];  // lower median: a repetition that really happened
}

}  // namespace

std::vector<PrefillMode> parse_prefill_modes(const std::vector<std::string>& names) {
  std::vector<PrefillMode> modes;
  for (const std::string& n : names) {
    PrefillMode m = parse_prefill_mode(n);
    if (std::find(modes.begin(), modes.end(), m) != modes.end()) {
      throw InvalidArgument("mode '" + n + "' is listed twice");
    }
    modes.push_back(m);
  }
  if (modes.empty()) throw InvalidArgument("no prefill mode given");
  return modes;
}

std::vector<PrefillModeResult> run_prefill_bench(Engine& engine,
                                                 const std::vector<GenerationRequest>& requests,
                                                 const PrefillBenchOptions& options) {
  std::vector<PrefillModeResult> results(options.modes.size());
  std::vector<std::vector<BatchStats>> all(options.modes.size());
  // Repetitions are the outer loop: on a shared or thermally throttled machine a slow phase then
  // hits every mode alike instead of biasing whichever mode ran during it.
  for (int rep = 0; rep < options.repetitions; ++rep) {
    for (size_t m = 0; m < options.modes.size(); ++m) {
      PrefillModeResult& r = results[m];
      if (r.status != "ok") continue;  // out of memory once: so it stays
      r.mode = options.modes[m];
      r.batch_size = static_cast<int64_t>(requests.size());
      BatchOptions bo;
      bo.mode = r.mode;
      bo.max_batch_tokens = options.max_batch_tokens;
      bo.max_seqs = std::max<int32_t>(bo.max_seqs, static_cast<int32_t>(requests.size()));
      // Keep the batch in the given order: the benchmark compares prefill strategies, not the
      // offline job planner.
      bo.plan_order = false;
      // The peak of a mode is the largest high-water mark over its own repetitions.
      bool reset = report::reset_peak_rss(&r.peak_rss_note);
      r.peak_rss_reset = rep == 0 ? reset : r.peak_rss_reset && reset;
      if (rep == 0) r.rss_start_mib = report::current_rss_mib();
      BatchStats st;
      std::vector<BatchItemResult> items = engine.generate_batch(requests, bo, &st);
      r.peak_rss_mib = std::max(r.peak_rss_mib, report::peak_rss_mib());
      int64_t tokens = 0;
      for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].out_of_memory) {
          r.status = "out_of_memory";
          r.error = items[i].error;
          break;
        }
        if (!items[i].error.empty()) {
          throw Error(std::string(prefill_mode_name(r.mode)) + " mode: request " +
                      std::to_string(i) + " failed: " + items[i].error);
        }
        tokens += static_cast<int64_t>(items[i].result.prompt_ids.size());
      }
      if (r.status != "ok") {
        r.ttft_s.clear();
        all[m].clear();
        continue;
      }
      r.prompt_tokens = tokens;
      // The provisional batch loop fills only the makespan; with max_tokens = 1 it is the TTFT.
      r.ttft_s.push_back(st.all_first_tokens_seconds > 0 ? st.all_first_tokens_seconds
                                                         : st.makespan_seconds);
      all[m].push_back(st);
    }
  }
  for (size_t m = 0; m < results.size(); ++m) {
    PrefillModeResult& r = results[m];
    if (r.status != "ok") continue;
    size_t mid = median_index(r.ttft_s);
    r.batch_ttft_s = r.ttft_s[mid];
    r.stats = all[m][mid];
    r.prompt_tokens_per_s = r.batch_ttft_s > 0 ? r.prompt_tokens / r.batch_ttft_s : 0;
  }
  return results;
}

std::vector<PrefillBatchResult> run_prefill_sweep(Engine& engine,
                                                  const std::vector<GenerationRequest>& requests,
                                                  const std::vector<int64_t>& batch_sizes,
                                                  const PrefillBenchOptions& options) {
  // Warm-up outside the measurement: faults in the weights and grows the scratch buffers once.
  {
    std::vector<GenerationRequest> warm(
        requests.begin(), requests.begin() + std::min<int64_t>(2, std::ssize(requests)));
    BatchOptions bo;
    bo.max_batch_tokens = options.max_batch_tokens;
    engine.generate_batch(warm, bo);
  }

  std::vector<PrefillBatchResult> runs;
  for (int64_t size : batch_sizes) {
    if (batch_sizes.size() > 1) {
      std::fprintf(stderr, "batch %lld ...\n", static_cast<long long>(size));
    }
    std::vector<GenerationRequest> batch(requests.begin(), requests.begin() + size);
    PrefillBatchResult b;
    b.batch_size = size;
    b.min_len = INT64_MAX;
    for (const auto& r : batch) {
      auto len = static_cast<int64_t>(r.prompt_ids.size());
      b.prompt_tokens += len;
      b.min_len = std::min(b.min_len, len);
      b.max_len = std::max(b.max_len, len);
    }
    b.modes = run_prefill_bench(engine, batch, options);
    runs.push_back(std::move(b));
  }
  return runs;
}

double packed_speedup(const std::vector<PrefillModeResult>& results, PrefillMode versus) {
  const PrefillModeResult *packed = nullptr, *other = nullptr;
  for (const auto& r : results) {
    if (r.mode == PrefillMode::Packed) packed = &r;
    if (r.mode == versus) other = &r;
  }
  if (!packed || !other || packed->batch_ttft_s <= 0 || other->status != "ok") return 0;
  return other->batch_ttft_s / packed->batch_ttft_s;
}

}  // namespace packinfer::prefill_bench
