#include "prefill_bench/prefill_report.h"

#include <cstdio>

#include "kernels/system_info.h"
#include "report/svg_plot.h"

namespace packinfer::prefill_bench {
namespace {

using report::PlotChart;
using report::PlotSeries;
using report::render_svg;

constexpr double kMiB = 1024.0 * 1024.0;

std::string fmt_speedup(double s) {
  if (s <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", s);
  return buf;
}

// One colour per mode in every chart, including the speedup lines ("vs padded" is padded's).
std::string mode_color(PrefillMode m) {
  switch (m) {
    case PrefillMode::Packed:
      return "#0072B2";
    case PrefillMode::Padded:
      return "#D55E00";
    case PrefillMode::Single:
      return "#009E73";
  }
  return "#000000";
}

// "Batch TTFT (s)" -> "seconds": the axis label is the unit in the chart title.
std::string unit_of(const std::string& title) {
  size_t open = title.rfind('(');
  std::string unit = title.substr(open + 1, title.size() - open - 2);
  return unit == "s" ? "seconds" : unit;
}

PlotChart chart(const std::string& title, const std::string& x_label, const std::string& y_label) {
  PlotChart c;
  c.title = title;
  c.x_label = x_label;
  c.y_label = y_label;
  return c;
}

// A mode's bar label: its name, marked when it ran out of memory (its bar is then empty).
std::string category(const PrefillModeResult& r) {
  return std::string(prefill_mode_name(r.mode)) + (r.status == "ok" ? "" : " (OOM)");
}

}  // namespace

void print_prefill_table(std::FILE* out, const PrefillRunInfo& info,
                         const std::vector<PrefillBatchResult>& runs) {
  std::fprintf(out, "system: %s\n", system_summary(info.threads).c_str());
  std::fprintf(out, "model: %s (%s)  threads: %d\n", info.model_name.c_str(),
               info.model_path.c_str(), info.threads);
  std::fprintf(out,
               "prompts: %s  seed: %llu  token budget: %lld tokens/forward  repetitions: %d "
               "(median)\n",
               info.distribution.c_str(), static_cast<unsigned long long>(info.seed),
               static_cast<long long>(info.max_batch_tokens), info.repetitions);
  bool no_detail = false;
  for (const PrefillBatchResult& b : runs) {
    std::fprintf(out, "\nbatch: %lld prompts, %lld prompt tokens (lengths %lld..%lld)\n",
                 static_cast<long long>(b.batch_size), static_cast<long long>(b.prompt_tokens),
                 static_cast<long long>(b.min_len), static_cast<long long>(b.max_len));
    std::fprintf(out, "| %-6s | %11s | %12s | %9s | %9s | %8s | %8s | %8s | %6s |\n", "mode",
                 "batch TTFT s", "prompt tok/s", "RSS MiB", "act MiB", "KV MiB", "pad tok",
                 "forwards", "pack %");
    std::fprintf(
        out,
        "|--------|--------------|--------------|-----------|-----------|----------|-------"
        "---|----------|--------|\n");
    for (const PrefillModeResult& r : b.modes) {
      if (r.status != "ok") {
        std::fprintf(out, "| %-6s | out of memory: %s |\n", prefill_mode_name(r.mode),
                     r.error.c_str());
        continue;
      }
      std::fprintf(out, "| %-6s | %12.4f | %12.1f | %9.1f |", prefill_mode_name(r.mode),
                   r.batch_ttft_s, r.prompt_tokens_per_s, r.peak_rss_mib);
      if (r.stats.n_forwards > 0) {
        std::fprintf(
            out, " %9.2f | %8.2f | %8lld | %8lld | %6.1f |\n", r.stats.peak_activation_bytes / kMiB,
            r.stats.peak_kv_bytes / kMiB, static_cast<long long>(r.stats.padding_tokens),
            static_cast<long long>(r.stats.n_forwards), 100.0 * r.stats.packing_efficiency);
      } else {
        // The batch scheduler reported no per-forward statistics (provisional implementation).
        std::fprintf(out, " %9s | %8s | %8s | %8s | %6s |\n", "-", "-", "-", "-", "-");
        no_detail = true;
      }
    }
    std::fprintf(out, "packed speedup: %s vs padded, %s vs single\n",
                 fmt_speedup(packed_speedup(b.modes, PrefillMode::Padded)).c_str(),
                 fmt_speedup(packed_speedup(b.modes, PrefillMode::Single)).c_str());
  }
  if (no_detail) {
    std::fprintf(out, "note: '-' = the engine's batch scheduler reported no forward statistics\n");
  }
  for (const PrefillBatchResult& b : runs) {
    for (const PrefillModeResult& r : b.modes) {
      if (!r.peak_rss_reset) {
        std::fprintf(out,
                     "note: peak RSS was not reset between modes (%s); each RSS value includes "
                     "everything measured before it\n",
                     r.peak_rss_note.c_str());
        return;
      }
    }
  }
}

nlohmann::json prefill_json(const PrefillRunInfo& info,
                            const std::vector<PrefillBatchResult>& runs) {
  nlohmann::json out = nlohmann::json::array();
  for (const PrefillBatchResult& b : runs) {
    for (const PrefillModeResult& r : b.modes) {
      nlohmann::json o = {
          {"mode", prefill_mode_name(r.mode)},
          {"status", r.status},
          {"batch", b.batch_size},
          {"batch_ttft_s", r.batch_ttft_s},
          {"batch_ttft_s_all", r.ttft_s},
          {"prompt_tokens", r.prompt_tokens},
          {"prompt_tokens_per_s", r.prompt_tokens_per_s},
          {"peak_rss_mib", r.peak_rss_mib},
          {"peak_rss_reset", r.peak_rss_reset},
          {"rss_start_mib", r.rss_start_mib},
          {"peak_activation_mib", r.stats.peak_activation_bytes / kMiB},
          {"peak_kv_mib", r.stats.peak_kv_bytes / kMiB},
          {"padding_tokens", r.stats.padding_tokens},
          {"n_forwards", r.stats.n_forwards},
          {"packing_efficiency", r.stats.packing_efficiency},
          {"makespan_s", r.stats.makespan_seconds},
          {"model", info.model_name},
          {"model_path", info.model_path},
          {"threads", info.threads},
          {"dist", info.distribution},
          {"seed", info.seed},
          {"max_batch_tokens", info.max_batch_tokens},
          {"repetitions", info.repetitions},
      };
      if (r.status != "ok") o["error"] = r.error;
      if (r.mode == PrefillMode::Packed) {
        if (double s = packed_speedup(b.modes, PrefillMode::Padded); s > 0) {
          o["speedup_vs_padded"] = s;
        }
        if (double s = packed_speedup(b.modes, PrefillMode::Single); s > 0) {
          o["speedup_vs_single"] = s;
        }
      }
      out.push_back(std::move(o));
    }
  }
  return out;
}

std::string prefill_svg(const PrefillRunInfo& info, const std::vector<PrefillBatchResult>& runs) {
  std::string title = "packinfer bench prefill: " + info.model_name + ", " + info.distribution +
                      ", threads: " + std::to_string(info.threads) + ", " +
                      std::to_string(info.max_batch_tokens) + " tokens/forward";
  std::vector<PrefillMode> modes;
  if (!runs.empty()) {
    for (const auto& r : runs.front().modes) modes.push_back(r.mode);
  }
  // Activation and RSS get separate charts: RSS includes the weights and would flatten the
  // activation curves, which are what padding inflates.
  using Metric = double (*)(const PrefillModeResult&);
  const std::pair<const char*, Metric> per_mode[] = {
      {"Batch TTFT (s)", [](const PrefillModeResult& r) { return r.batch_ttft_s; }},
      {"Peak activation memory (MiB)",
       [](const PrefillModeResult& r) { return r.stats.peak_activation_bytes / kMiB; }},
      {"Peak RSS (MiB)", [](const PrefillModeResult& r) { return r.peak_rss_mib; }},
  };
  std::vector<PlotChart> charts;
  if (runs.size() > 1) {
    PlotChart speed =
        chart("Speedup of packed prefill", "batch size (prompts)", "batch TTFT speedup (x)");
    speed.log2_x = true;
    speed.reference_y = 1.0;
    for (PrefillMode versus : {PrefillMode::Padded, PrefillMode::Single}) {
      PlotSeries s{std::string("vs ") + prefill_mode_name(versus), {}, {}, mode_color(versus)};
      for (const auto& b : runs) {
        double v = packed_speedup(b.modes, versus);
        if (v <= 0) continue;
        s.x.push_back(static_cast<double>(b.batch_size));
        s.y.push_back(v);
      }
      if (!s.x.empty()) speed.series.push_back(std::move(s));
    }
    charts.push_back(std::move(speed));
    for (const auto& [name, metric] : per_mode) {
      PlotChart c = chart(name, "batch size (prompts)", "");
      c.y_label = unit_of(c.title);
      c.log2_x = true;
      for (size_t m = 0; m < modes.size(); ++m) {
        PlotSeries s{prefill_mode_name(modes[m]), {}, {}, mode_color(modes[m])};
        for (const auto& b : runs) {
          if (m >= b.modes.size() || b.modes[m].status != "ok") continue;
          s.x.push_back(static_cast<double>(b.batch_size));
          s.y.push_back(metric(b.modes[m]));
        }
        c.series.push_back(std::move(s));
      }
      charts.push_back(std::move(c));
    }
    return render_svg(charts, title, 520, 360, 2);
  }
  if (!runs.empty()) title += ", batch " + std::to_string(runs.front().batch_size);
  PlotChart tput = chart("Prompt throughput", "prefill mode", "prompt tokens/s");
  for (const auto& [name, metric] : per_mode) {
    PlotChart c = chart(name, "prefill mode", "");
    c.y_label = unit_of(c.title);
    PlotSeries s{"", {}, {}, ""};
    for (const PrefillModeResult& r :
         runs.empty() ? std::vector<PrefillModeResult>{} : runs.front().modes) {
      c.categories.push_back(category(r));
      s.y.push_back(metric(r));
    }
    c.series.push_back(std::move(s));
    charts.push_back(std::move(c));
  }
  if (!runs.empty()) {
    PlotSeries s{"", {}, {}, ""};
    for (const PrefillModeResult& r : runs.front().modes) {
      tput.categories.push_back(category(r));
      s.y.push_back(r.prompt_tokens_per_s);
    }
    tput.series.push_back(std::move(s));
  }
  charts.insert(charts.begin() + 1, std::move(tput));
  return render_svg(charts, title, 520, 360, 2);
}

}  // namespace packinfer::prefill_bench
