#include "loadgen/serve_report.h"

#include "kernels/system_info.h"
#include "report/svg_plot.h"

namespace packinfer::loadgen {
namespace {

using report::PlotChart;
using report::PlotSeries;
using report::render_svg;

nlohmann::json summary_json(const LatencySummary& s) {
  return {{"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90},
          {"p99", s.p99},   {"max", s.max}, {"count", s.count}};
}

void rule(std::FILE* out, const std::vector<int>& widths) {
  for (int w : widths)
    std::fprintf(out, "|%s", std::string(static_cast<size_t>(w) + 2, '-').c_str());
  std::fprintf(out, "|\n");
}

size_t label_width(const std::vector<ServeConfigResult>& configs) {
  size_t w = 6;
  for (const auto& c : configs) w = std::max(w, c.label.size());
  return w;
}

// Grouped bars: one category per percentile, one series per configuration.
PlotChart percentile_chart(const std::string& title, const std::vector<ServeConfigResult>& configs,
                           LatencySummary RunMetrics::*field) {
  PlotChart c;
  c.title = title;
  c.x_label = "percentile";
  c.y_label = "milliseconds";
  c.categories = {"p50", "p90", "p99", "mean"};
  for (const auto& cfg : configs) {
    const LatencySummary& s = cfg.metrics.*field;
    c.series.push_back({cfg.label, {}, {s.p50, s.p90, s.p99, s.mean}, ""});
  }
  return c;
}

std::string ratio(double num, double den) {
  if (!(den > 0) || !(num > 0)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", num / den);
  return buf;
}

// An on/off comparison in one line: how many times the second configuration's figure is the
// first's (e.g. TTFT p50 of "prefix-cache off" over "prefix-cache on").
void print_ratios(std::FILE* out, const ServeConfigResult& a, const ServeConfigResult& b) {
  const RunMetrics &x = a.metrics, &y = b.metrics;
  std::fprintf(out,
               "\n'%s' / '%s': TTFT p50 %s, TTFT p99 %s, TPOT p50 %s, ITL p99 %s, E2E p50 %s, "
               "output tok/s %s",
               b.label.c_str(), a.label.c_str(), ratio(y.ttft_ms.p50, x.ttft_ms.p50).c_str(),
               ratio(y.ttft_ms.p99, x.ttft_ms.p99).c_str(),
               ratio(y.tpot_ms.p50, x.tpot_ms.p50).c_str(),
               ratio(y.itl_ms.p99, x.itl_ms.p99).c_str(), ratio(y.e2e_ms.p50, x.e2e_ms.p50).c_str(),
               ratio(y.output_tokens_per_s, x.output_tokens_per_s).c_str());
  if (x.has_stall_figures && y.has_stall_figures) {
    std::fprintf(out, ", max stall %s", ratio(y.max_stall_ms, x.max_stall_ms).c_str());
  }
  std::fprintf(out, "\n");
}

// One line per configuration through the (x, y) points `points(config)` gives.
template <class Points>
PlotChart line_chart(const std::string& title, const std::string& x_label,
                     const std::string& y_label, const std::vector<ServeConfigResult>& configs,
                     Points points) {
  PlotChart c;
  c.title = title;
  c.x_label = x_label;
  c.y_label = y_label;
  for (const auto& cfg : configs) {
    PlotSeries s{cfg.label, {}, {}, ""};
    for (const auto& [x, y] : points(cfg)) {
      s.x.push_back(x);
      s.y.push_back(y);
    }
    c.series.push_back(std::move(s));
  }
  return c;
}

}  // namespace

void print_serve_table(std::FILE* out, const ServeRunInfo& info,
                       const std::vector<ServeConfigResult>& configs) {
  std::fprintf(out, "system: %s\n", system_summary().c_str());
  if (!info.model.empty()) std::fprintf(out, "model: %s\n", info.model.c_str());
  std::fprintf(out, "workload: %s  seed: %llu\n", info.workload.c_str(),
               static_cast<unsigned long long>(info.seed));
  for (const auto& c : configs) {
    std::fprintf(out, "config '%s': %s%s%s\n", c.label.c_str(), c.url.c_str(),
                 c.server_args.empty() ? "" : "  server flags: ", c.server_args.c_str());
    if (c.capacity_rps > 0) {
      std::fprintf(out, "  measured capacity %.3f requests/s; ran %s\n", c.capacity_rps,
                   c.workload.c_str());
    }
  }
  const int lw = static_cast<int>(label_width(configs));
  std::fprintf(out, "\n| %-*s | %5s | %6s | %8s | %12s | %10s | %13s | %10s |\n", lw, "config",
               "ok", "failed", "req/s", "prompt tok/s", "out tok/s", "goodput req/s", "cached tok");
  rule(out, {lw, 5, 6, 8, 12, 10, 13, 10});
  for (const auto& c : configs) {
    const RunMetrics& m = c.metrics;
    std::fprintf(out, "| %-*s | %5lld | %6lld | %8.3f | %12.1f | %10.1f | %13.3f | %10lld |\n", lw,
                 c.label.c_str(), static_cast<long long>(m.completed),
                 static_cast<long long>(m.failed), m.request_throughput, m.prompt_tokens_per_s,
                 m.output_tokens_per_s, m.goodput, static_cast<long long>(m.cached_tokens));
  }
  std::fprintf(out,
               "\nlatency in ms (p50 / p90 / p99):\n| %-*s | %-23s | %-23s | %-23s | %-23s |\n", lw,
               "config", "TTFT", "TPOT", "ITL", "E2E");
  rule(out, {lw, 23, 23, 23, 23});
  auto cell = [](const LatencySummary& s) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%7.1f %7.1f %7.1f", s.p50, s.p90, s.p99);
    return std::string(buf);
  };
  for (const auto& c : configs) {
    const RunMetrics& m = c.metrics;
    std::fprintf(out, "| %-*s | %-23s | %-23s | %-23s | %-23s |\n", lw, c.label.c_str(),
                 cell(m.ttft_ms).c_str(), cell(m.tpot_ms).c_str(), cell(m.itl_ms).c_str(),
                 cell(m.e2e_ms).c_str());
  }
  bool any_stall = false;
  for (const auto& c : configs) any_stall |= c.metrics.has_stall_figures;
  if (any_stall) {
    std::fprintf(out, "\ndecoding streams while the long prompt arrives (ms):\n");
    std::fprintf(out, "| %-*s | %8s | %8s | %7s | %9s | %16s |\n", lw, "config", "ITL p50",
                 "ITL p99", "p99/p50", "max stall", "long prompt TTFT");
    rule(out, {lw, 8, 8, 7, 9, 16});
    for (const auto& c : configs) {
      const RunMetrics& m = c.metrics;
      double ratio = m.stream_itl_ms.p50 > 0 ? m.stream_itl_ms.p99 / m.stream_itl_ms.p50 : 0;
      std::fprintf(out, "| %-*s | %8.1f | %8.1f | %6.2fx | %9.1f | %16.1f |\n", lw, c.label.c_str(),
                   m.stream_itl_ms.p50, m.stream_itl_ms.p99, ratio, m.max_stall_ms,
                   m.long_prompt_ttft_ms);
    }
  }
  if (configs.size() == 2) print_ratios(out, configs[0], configs[1]);
  for (const auto& c : configs) {
    if (c.has_rss) {
      std::fprintf(out, "server RSS '%s': start %.1f MiB, peak %.1f MiB, end %.1f MiB\n",
                   c.label.c_str(), c.rss.start_mib, c.rss.peak_mib, c.rss.end_mib);
    }
  }
  for (const auto& c : configs) {
    if (c.metrics.failed > 0) {
      std::fprintf(out, "'%s': %lld failed; first error: %s\n", c.label.c_str(),
                   static_cast<long long>(c.metrics.failed), c.metrics.first_error.c_str());
    }
  }
}

nlohmann::json serve_json(const ServeRunInfo& info, const std::vector<ServeConfigResult>& configs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : configs) {
    const RunMetrics& m = c.metrics;
    nlohmann::json o = {
        {"config", c.label},
        {"url", c.url},
        {"server_args", c.server_args},
        {"model", info.model},
        {"workload", c.workload.empty() ? info.workload : c.workload},
        {"capacity_rps", c.capacity_rps},
        {"scenario", info.scenario},
        {"seed", info.seed},
        {"requests", m.requests},
        {"completed", m.completed},
        {"failed", m.failed},
        {"first_error", m.first_error},
        {"duration_s", m.duration_s},
        {"request_throughput", m.request_throughput},
        {"prompt_tokens", m.prompt_tokens},
        {"output_tokens", m.output_tokens},
        {"cached_tokens", m.cached_tokens},
        {"prompt_tokens_per_s", m.prompt_tokens_per_s},
        {"output_tokens_per_s", m.output_tokens_per_s},
        {"slo_ttft_ms", m.slo.ttft_ms},
        {"slo_tpot_ms", m.slo.tpot_ms},
        {"good_requests", m.good_requests},
        {"goodput", m.goodput},
        {"ttft_ms", summary_json(m.ttft_ms)},
        {"tpot_ms", summary_json(m.tpot_ms)},
        {"itl_ms", summary_json(m.itl_ms)},
        {"e2e_ms", summary_json(m.e2e_ms)},
    };
    if (m.has_stall_figures) {
      o["streams_itl_ms"] = summary_json(m.stream_itl_ms);
      o["max_stall_ms"] = m.max_stall_ms;
      o["long_prompt_ttft_ms"] = m.long_prompt_ttft_ms;
    }
    if (c.has_rss) {
      nlohmann::json samples = nlohmann::json::array();
      for (const RssSample& s : c.rss.samples) samples.push_back({s.t_s, s.mib});
      o["server_rss_mib"] = {{"start", c.rss.start_mib},
                             {"peak", c.rss.peak_mib},
                             {"end", c.rss.end_mib},
                             {"samples", samples}};
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::string serve_svg(const ServeRunInfo& info, const std::vector<ServeConfigResult>& configs) {
  std::vector<PlotChart> charts;
  charts.push_back(percentile_chart("Time to first token", configs, &RunMetrics::ttft_ms));
  charts.push_back(percentile_chart("Inter-token latency", configs, &RunMetrics::itl_ms));
  bool any_stall = false, any_rss = false;
  for (const auto& c : configs) {
    any_stall |= c.metrics.has_stall_figures;
    any_rss |= c.has_rss;
  }
  if (any_stall) {
    PlotChart c;
    c.title = "Decoding streams during the long prompt";
    c.x_label = "inter-token gap";
    c.y_label = "milliseconds";
    c.categories = {"p50", "p99", "max stall"};
    for (const auto& cfg : configs) {
      const RunMetrics& m = cfg.metrics;
      c.series.push_back(
          {cfg.label, {}, {m.stream_itl_ms.p50, m.stream_itl_ms.p99, m.max_stall_ms}, ""});
    }
    charts.push_back(std::move(c));
  }
  PlotChart tput;
  tput.title = "Throughput";
  tput.x_label = "configuration";
  tput.y_label = "output tokens/s";
  PlotSeries ts{"", {}, {}, ""};
  for (const auto& cfg : configs) {
    tput.categories.push_back(cfg.label);
    ts.y.push_back(cfg.metrics.output_tokens_per_s);
  }
  tput.series.push_back(std::move(ts));
  charts.push_back(std::move(tput));
  charts.push_back(line_chart("TTFT over the run", "request sent at (s)", "TTFT (ms)", configs,
                              [](const ServeConfigResult& c) { return c.metrics.ttft_over_time; }));
  if (any_rss) {
    charts.push_back(line_chart("Server RSS", "seconds", "MiB", configs, [](const auto& c) {
      std::vector<std::pair<double, double>> points;
      for (const RssSample& r : c.rss.samples) points.emplace_back(r.t_s, r.mib);
      return points;
    }));
  }
  std::string title = "packinfer bench serve: " + info.workload;
  if (!info.model.empty()) title = "packinfer bench serve: " + info.model + ", " + info.workload;
  return render_svg(charts, title, 520, 360, 2);
}

}  // namespace packinfer::loadgen
