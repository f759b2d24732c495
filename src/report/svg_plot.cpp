#include "report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace packinfer::report {
namespace {

// Colour-blind friendly (Okabe-Ito), distinct in greyscale print too.
const char* const kColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                               "#E69F00", "#56B4E9", "#000000", "#F0E442"};
constexpr int kNumColors = sizeof(kColors) / sizeof(kColors[0]);

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string num(double v) {  // coordinates: short and locale independent enough for SVG
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Short human labels: 150k rather than 1.5e+05 (axes of tokens/s), 0.0021 for seconds.
std::string tick_label(double v) {
  char buf[32];
  double a = std::fabs(v);
  if (a >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.3gM", v / 1e6);
  } else if (a >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.3gk", v / 1e3);
  } else if (v != 0 && a < 1e-4) {
    std::snprintf(buf, sizeof buf, "%.1e", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.4g", v);
  }
  return buf;
}

struct Box {
  double left, top, width, height;
};

class Writer {
 public:
  std::string out;
  void text(double x, double y, const std::string& s, const char* anchor = "middle", int size = 12,
            const char* extra = "") {
    out += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor +
           "\" font-size=\"" + std::to_string(size) + "\"" + extra + ">" + esc(s) + "</text>\n";
  }
  void line(double x1, double y1, double x2, double y2, const std::string& style) {
    out += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" +
           num(y2) + "\" " + style + "/>\n";
  }
};

// Maps data to pixels inside the plot box.
struct Scale {
  double lo, hi, p0, p1;
  bool log2 = false;
  double operator()(double v) const {
    double a = log2 ? std::log2(lo) : lo, b = log2 ? std::log2(hi) : hi;
    double t = log2 ? std::log2(v) : v;
    return b == a ? (p0 + p1) / 2 : p0 + (t - a) / (b - a) * (p1 - p0);
  }
};

void y_range(const PlotChart& c, double& lo, double& hi) {
  lo = std::numeric_limits<double>::infinity();
  hi = -lo;
  for (const PlotSeries& s : c.series) {
    for (double v : s.y) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (c.reference_y > 0) {
    lo = std::min(lo, c.reference_y);
    hi = std::max(hi, c.reference_y);
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (c.y_from_zero || !c.categories.empty()) lo = std::min(lo, 0.0);
  if (!c.categories.empty()) hi += (hi - lo) * 0.06;  // headroom for the value labels on bars
  if (hi - lo < 1e-12) hi = lo + 1;
}

std::string series_color(const PlotSeries& s, size_t index) {
  return s.color.empty() ? kColors[index % kNumColors] : s.color;
}

void draw_chart(Writer& w, const PlotChart& c, double ox, double oy, int width, int height) {
  bool legend = std::any_of(c.series.begin(), c.series.end(),
                            [](const PlotSeries& s) { return !s.name.empty(); });
  // Room on the right for the legend, on the left for tick labels and the y label.
  Box b{ox + 62, oy + 34, width - 62.0 - (legend ? 150 : 24), height - 34.0 - 52};
  w.text(ox + width / 2.0, oy + 20, c.title, "middle", 14, " font-weight=\"bold\"");
  double ylo, yhi;
  y_range(c, ylo, yhi);
  std::vector<double> yt = nice_ticks(ylo, yhi);
  ylo = std::min(ylo, yt.front());
  yhi = std::max(yhi, yt.back());
  Scale ys{ylo, yhi, b.top + b.height, b.top};

  // Grid and y ticks.
  for (double t : yt) {
    double y = ys(t);
    w.line(b.left, y, b.left + b.width, y, "stroke=\"#e4e4e4\" stroke-width=\"1\"");
    w.text(b.left - 6, y + 4, tick_label(t), "end", 11);
  }
  if (c.reference_y > 0) {
    double y = ys(c.reference_y);
    w.line(b.left, y, b.left + b.width, y,
           "stroke=\"#777\" stroke-width=\"1\" stroke-dasharray=\"5,4\"");
  }

  std::vector<std::string> names;
  if (!c.categories.empty()) {
    // Grouped bars: each category gets a slot, split between the series.
    size_t nc = c.categories.size(), ns = std::max<size_t>(c.series.size(), 1);
    double slot = b.width / static_cast<double>(nc);
    double bar = slot * 0.8 / static_cast<double>(ns);
    for (size_t k = 0; k < nc; ++k) {
      double x0 = b.left + slot * static_cast<double>(k) + slot * 0.1;
      w.text(b.left + slot * (static_cast<double>(k) + 0.5), b.top + b.height + 16, c.categories[k],
             "middle", 11);
      for (size_t s = 0; s < c.series.size(); ++s) {
        if (k >= c.series[s].y.size() || !std::isfinite(c.series[s].y[k])) continue;
        double v = c.series[s].y[k], y = ys(v), y0 = ys(0);
        bool per_category = c.series.size() == 1 && c.series[s].name.empty();
        std::string color = series_color(c.series[s], per_category ? k : s);
        w.out += "<rect x=\"" + num(x0 + bar * static_cast<double>(s)) + "\" y=\"" +
                 num(std::min(y, y0)) + "\" width=\"" + num(bar * 0.92) + "\" height=\"" +
                 num(std::fabs(y0 - y)) + "\" fill=\"" + color + "\"/>\n";
        w.text(x0 + bar * (static_cast<double>(s) + 0.46), std::min(y, y0) - 3, tick_label(v),
               "middle", 9, " fill=\"#333\"");
      }
    }
  } else {
    double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo;
    std::vector<double> xs;
    for (const PlotSeries& s : c.series) {
      for (double v : s.x) {
        if (c.log2_x && v <= 0) continue;
        xlo = std::min(xlo, v);
        xhi = std::max(xhi, v);
        xs.push_back(v);
      }
    }
    if (!std::isfinite(xlo)) xlo = c.log2_x ? 1 : 0, xhi = xlo + 1;
    std::vector<double> xt;
    if (c.log2_x) {
      std::sort(xs.begin(), xs.end());
      xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
      xt = xs;
    } else {
      xt = nice_ticks(xlo, xhi);
      xlo = std::min(xlo, xt.front());
      xhi = std::max(xhi, xt.back());
    }
    // A little air at both ends so markers are not cut by the axes.
    double pad = b.width * 0.04;
    Scale xsc{xlo, xhi, b.left + pad, b.left + b.width - pad, c.log2_x};
    for (double t : xt) {
      double x = xsc(t);
      w.line(x, b.top, x, b.top + b.height, "stroke=\"#f0f0f0\" stroke-width=\"1\"");
      w.line(x, b.top + b.height, x, b.top + b.height + 4, "stroke=\"#333\"");
      w.text(x, b.top + b.height + 16, tick_label(t), "middle", 11);
    }
    for (size_t s = 0; s < c.series.size(); ++s) {
      const PlotSeries& ser = c.series[s];
      std::string color = series_color(ser, s);
      std::string pts;
      size_t n = std::min(ser.x.size(), ser.y.size());
      for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(ser.y[i]) || (c.log2_x && ser.x[i] <= 0)) continue;
        pts += num(xsc(ser.x[i])) + "," + num(ys(ser.y[i])) + " ";
      }
      // Dash every other series so overlapping lines stay distinguishable.
      w.out += std::string("<polyline fill=\"none\" stroke=\"") + color + "\" stroke-width=\"2\"" +
               (s % 2 ? " stroke-dasharray=\"6,3\"" : "") + " points=\"" + pts + "\"/>\n";
      for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(ser.y[i]) || (c.log2_x && ser.x[i] <= 0)) continue;
        w.out += "<circle cx=\"" + num(xsc(ser.x[i])) + "\" cy=\"" + num(ys(ser.y[i])) +
                 "\" r=\"3.5\" fill=\"" + color + "\"/>\n";
      }
    }
  }

  // Axes and labels.
  w.line(b.left, b.top + b.height, b.left + b.width, b.top + b.height, "stroke=\"#333\"");
  w.line(b.left, b.top, b.left, b.top + b.height, "stroke=\"#333\"");
  w.text(b.left + b.width / 2, b.top + b.height + 38, c.x_label, "middle", 12);
  double yc = b.top + b.height / 2;
  w.text(ox + 16, yc, c.y_label, "middle", 12,
         (" transform=\"rotate(-90 " + num(ox + 16) + " " + num(yc) + ")\"").c_str());

  // Legend to the right of the plot.
  double lx = b.left + b.width + 14, y = b.top + 6 - 20;
  for (size_t s = 0; s < c.series.size(); ++s) {
    if (c.series[s].name.empty()) continue;
    y += 20;
    std::string color = series_color(c.series[s], s);
    if (c.categories.empty()) {
      w.line(lx, y, lx + 22, y,
             "stroke=\"" + color + "\" stroke-width=\"2\"" +
                 (s % 2 ? " stroke-dasharray=\"6,3\"" : ""));
      w.out += "<circle cx=\"" + num(lx + 11) + "\" cy=\"" + num(y) + "\" r=\"3.5\" fill=\"" +
               color + "\"/>\n";
    } else {
      w.out += "<rect x=\"" + num(lx + 4) + "\" y=\"" + num(y - 6) +
               "\" width=\"14\" height=\"12\" fill=\"" + color + "\"/>\n";
    }
    w.text(lx + 28, y + 4, c.series[s].name, "start", 11);
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target_count) {
  if (!(hi > lo)) hi = lo + 1;
  double raw = (hi - lo) / std::max(target_count, 1);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  double start = std::floor(lo / step + 1e-9) * step;
  for (double t = start; t <= hi + step * 0.999; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
    if (ticks.size() > 50) break;
  }
  return ticks;
}

std::string render_svg(const std::vector<PlotChart>& charts, const std::string& title, int width,
                       int height, int columns) {
  const int n = static_cast<int>(std::max<size_t>(charts.size(), 1));
  const int cols = columns > 0 ? std::min(columns, n) : n;
  const int rows = (n + cols - 1) / cols;
  const int top = title.empty() ? 0 : 30;
  const int total_w = width * cols;
  const int total_h = height * rows + top;
  Writer w;
  w.out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  w.out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(total_w) +
           "\" height=\"" + std::to_string(total_h) + "\" viewBox=\"0 0 " +
           std::to_string(total_w) + " " + std::to_string(total_h) +
           "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
  w.out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!title.empty()) w.text(total_w / 2.0, 21, title, "middle", 15, " font-weight=\"bold\"");
  for (size_t i = 0; i < charts.size(); ++i) {
    int col = static_cast<int>(i) % cols, row = static_cast<int>(i) / cols;
    draw_chart(w, charts[i], width * col, top + height * row, width, height);
  }
  w.out += "</svg>\n";
  return w.out;
}

}  // namespace packinfer::report
