#include "loadgen/serve_rounds.h"

#include <string>
#include <utility>

#include "report/percentile.h"

namespace packinfer::loadgen {
namespace {

// One figure of a configuration's run, as the summary tables show it.
struct Figure {
  const char* name;
  double (*of)(const RunMetrics&);
  bool stall_only;  // a figure of the long-prompt scenario
};

const Figure kFigures[] = {
    {"TTFT p50", [](const RunMetrics& m) { return m.ttft_ms.p50; }, false},
    {"TTFT p99", [](const RunMetrics& m) { return m.ttft_ms.p99; }, false},
    {"TPOT p50", [](const RunMetrics& m) { return m.tpot_ms.p50; }, false},
    {"ITL p99", [](const RunMetrics& m) { return m.itl_ms.p99; }, false},
    {"E2E p50", [](const RunMetrics& m) { return m.e2e_ms.p50; }, false},
    {"out tok/s", [](const RunMetrics& m) { return m.output_tokens_per_s; }, false},
    {"streams p99/p50",
     [](const RunMetrics& m) {
       return m.stream_itl_ms.p50 > 0 ? m.stream_itl_ms.p99 / m.stream_itl_ms.p50 : 0.0;
     },
     true},
    {"max stall", [](const RunMetrics& m) { return m.max_stall_ms; }, true},
    {"long prompt TTFT", [](const RunMetrics& m) { return m.long_prompt_ttft_ms; }, true},
};

std::vector<const Figure*> figures_for(bool stall) {
  std::vector<const Figure*> out;
  for (const Figure& f : kFigures)
    if (stall || !f.stall_only) out.push_back(&f);
  return out;
}

void print_row(std::FILE* out, const std::string& round, const std::string& label,
               const std::vector<double>& values) {
  std::fprintf(out, "| %s | %s |", round.c_str(), label.c_str());
  for (double v : values) std::fprintf(out, " %.2f |", v);
  std::fprintf(out, "\n");
}

double ratio_or_zero(double num, double den) { return den > 0 && num > 0 ? num / den : 0; }

// The median as every report computes it (numpy's, the mean of the middle two for an even count).
double median_of(std::vector<double> values) { return report::percentile(std::move(values), 50); }

}  // namespace

void print_rounds_summary(std::FILE* out,
                          const std::vector<std::vector<ServeConfigResult>>& rounds) {
  if (rounds.empty() || rounds.front().empty()) return;
  const size_t n_configs = rounds.front().size();
  bool stall = true;
  for (const auto& round : rounds)
    for (const auto& c : round) stall = stall && c.metrics.has_stall_figures;
  const std::vector<const Figure*> figures = figures_for(stall);

  std::fprintf(out, "\n%zu rounds, the configurations alternating; latencies in ms:\n",
               rounds.size());
  std::fprintf(out, "| round | config |");
  for (const Figure* f : figures) std::fprintf(out, " %s |", f->name);
  std::fprintf(out, "\n|---|---|");
  for (size_t i = 0; i < figures.size(); ++i) std::fprintf(out, "---|");
  std::fprintf(out, "\n");
  for (size_t r = 0; r < rounds.size(); ++r) {
    for (const auto& c : rounds[r]) {
      std::vector<double> values;
      for (const Figure* f : figures) values.push_back(f->of(c.metrics));
      print_row(out, std::to_string(r + 1), c.label, values);
    }
  }
  for (size_t c = 0; c < n_configs; ++c) {
    std::vector<double> medians;
    for (const Figure* f : figures) {
      std::vector<double> per_round;
      for (const auto& round : rounds) per_round.push_back(f->of(round[c].metrics));
      medians.push_back(median_of(per_round));
    }
    print_row(out, "median", rounds.front()[c].label, medians);
  }
  if (n_configs != 2) return;

  // The ratio of each round's two servers, then their median: a drift of the machine between
  // rounds cancels out, one within a round does not.
  const std::string& a = rounds.front()[0].label;
  const std::string& b = rounds.front()[1].label;
  std::fprintf(out, "\nmedian over the rounds of '%s' / '%s':", b.c_str(), a.c_str());
  const char* sep = " ";
  for (const Figure* f : figures) {
    if (f->stall_only) continue;
    std::vector<double> ratios;
    for (const auto& round : rounds)
      ratios.push_back(ratio_or_zero(f->of(round[1].metrics), f->of(round[0].metrics)));
    std::fprintf(out, "%s%s %.2fx", sep, f->name, median_of(ratios));
    sep = ", ";
  }
  std::fprintf(out, "\n");
  if (stall) {
    std::vector<double> ratios;
    std::string each;
    for (const auto& round : rounds) {
      ratios.push_back(ratio_or_zero(round[0].metrics.long_prompt_ttft_ms,
                                     round[1].metrics.long_prompt_ttft_ms));
      char buf[16];
      std::snprintf(buf, sizeof buf, "%s%.2fx", each.empty() ? "" : ", ", ratios.back());
      each += buf;
    }
    std::fprintf(out, "long prompt TTFT '%s' / '%s': median %.2fx (rounds: %s)\n", a.c_str(),
                 b.c_str(), median_of(ratios), each.c_str());
  }
}

}  // namespace packinfer::loadgen
