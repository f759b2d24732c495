#pragma once
// A tiny dependency-free SVG chart writer for benchmark reports: line charts (x/y series with
// markers) and grouped bar charts (one bar per series per category), each with axes, ticks,
// labels, legend and title; several charts are laid out in a grid in one SVG.
#include <string>
#include <vector>

namespace packinfer::report {

struct PlotSeries {
  std::string name;       // empty: not in the legend (a lone unnamed bar series is coloured per
                          // category instead)
  std::vector<double> x;  // line charts only
  std::vector<double> y;  // bar charts: one value per category
  std::string color;      // CSS colour; empty = the palette's next one
};

struct PlotChart {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
  std::vector<std::string> categories;  // non-empty: grouped bar chart
  bool log2_x = false;                  // line charts: log2 x axis, ticks at the data's x values
  bool y_from_zero = true;              // include 0 in the y range
  double reference_y = 0;               // > 0: dashed horizontal line (e.g. speedup 1.0)
};

// One SVG document holding `charts` in a grid of `columns` (0 = all in one row), each `width` x
// `height` pixels, under `title`.
std::string render_svg(const std::vector<PlotChart>& charts, const std::string& title = "",
                       int width = 520, int height = 380, int columns = 0);

// "Nice" axis ticks (1, 2, 5 x 10^k steps) covering [lo, hi]; exposed for tests.
std::vector<double> nice_ticks(double lo, double hi, int target_count = 5);

}  // namespace packinfer::report
