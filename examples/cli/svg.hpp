// SPDX-License-Identifier: Apache-2.0
#pragma once
// Small SVG pictures for the command-line tool, laid out so that every label stays on the canvas
// and no two labels overlap (tests/cli/svg_layout_test.cpp checks every SVG the command writes).
// Text widths are estimated as 0.6 em per character, generous for sans-serif.
//   svg_canvas      primitives (text, lines, rects) into one document
//   svg_line_chart  curves over a step axis, with ticks, axis labels and a legend beside the plot
//   svg_bar_chart   grouped bars with error bars and rotated group labels
//   svg_heatmap     a matrix of values in [0, 1] as shaded cells

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace beacon::cli {

inline std::string svg_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '\'') o += "&apos;";
    else o += c;
  }
  return o;
}

/// printf into a string (SVG attributes and labels are short).
template <class... A>
std::string fmt(const char* f, A... a) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a...);
  return buf;
}

/// A value with 3 significant digits ("0.025", "-0.5", "1.2e+03").
inline std::string sig3(double v) { return fmt("%.3g", v == 0 ? 0.0 : v); }

/// A tick label: whole numbers in full ("1500"), others with 3 significant digits.
inline std::string tick_text(double v) {
  return std::abs(v) >= 1 && std::abs(v) < 1e9 && v == std::round(v) ? fmt("%.0f", v) : sig3(v);
}

/// Estimated width of a label in pixels (0.6 em per code point).
inline double text_width(const std::string& s, double font_size) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return 0.6 * font_size * static_cast<double>(n);
}

inline const char* palette(std::size_t i) {
  static const char* colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return colours[i % 10];
}
/// Dash patterns cycled with the colours, so that curves differ by more than colour.
inline const char* dash_pattern(std::size_t i) {
  static const char* dashes[] = {"none", "7 3", "2 2", "9 3 2 3", "4 4", "12 3 2 3 2 3"};
  return dashes[i % 6];
}
/// White (0) to dark blue (1).
inline std::string shade(double v) {
  const double t = std::clamp(std::isfinite(v) ? v : 0.0, 0.0, 1.0);
  auto mix = [t](double a, double b) { return static_cast<int>(std::lround(a + (b - a) * t)); };
  return fmt("#%02x%02x%02x", mix(247, 8), mix(251, 48), mix(255, 107));
}

/// "Nice" tick values covering [lo, hi] with about `count` steps of 1, 2 or 5 x 10^k.
inline std::vector<double> nice_ticks(double lo, double hi, int count = 5) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / count, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3 ? 2 * mag : raw / mag < 7 ? 5 * mag : 10 * mag;
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

class svg_canvas {
 public:
  svg_canvas(double width, double height) : w_(width), h_(height) {}
  [[nodiscard]] double width() const { return w_; }
  [[nodiscard]] double height() const { return h_; }

  /// anchor: start | middle | end; angle: degrees, rotating about (x, y).
  void text(double x, double y, const std::string& s, double size = 12, const char* anchor = "start", double angle = 0, const char* extra = "") {
    body_ += fmt("<text x='%.1f' y='%.1f' font-size='%.0f' text-anchor='%s'", x, y, size, anchor);
    if (angle != 0) body_ += fmt(" transform='rotate(%.0f %.1f %.1f)'", angle, x, y);
    body_ += std::string(extra) + ">" + svg_escape(s) + "</text>\n";
  }
  void line(double x1, double y1, double x2, double y2, const std::string& stroke = "black", double width = 1, const char* dash = "none") {
    body_ += fmt("<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke-width='%.1f' ", x1, y1, x2, y2, width) + "stroke='" + stroke + "'" +
             (std::string(dash) == "none" ? "" : std::string(" stroke-dasharray='") + dash + "'") + "/>\n";
  }
  void rect(double x, double y, double w, double h, const std::string& fill, const std::string& tooltip = "", const std::string& stroke = "") {
    body_ += fmt("<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' ", x, y, w, h) + "fill='" + fill + "'" +
             (stroke.empty() ? "" : " stroke='" + stroke + "'");
    body_ += tooltip.empty() ? "/>\n" : "><title>" + svg_escape(tooltip) + "</title></rect>\n";
  }
  void polyline(const std::string& points, const std::string& stroke, const char* dash) {
    body_ += "<polyline fill='none' stroke-width='1.8' stroke='" + stroke + "' points='" + points + "'" +
             (std::string(dash) == "none" ? "" : std::string(" stroke-dasharray='") + dash + "'") + "/>\n";
  }
  void raw(const std::string& s) { body_ += s; }

  [[nodiscard]] std::string render() const {
    return fmt("<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' viewBox='0 0 %.0f %.0f' font-family='sans-serif' font-size='12'>\n",
               w_, h_, w_, h_) +
           fmt("<rect width='%.0f' height='%.0f' fill='white'/>\n", w_, h_) + body_ + "</svg>\n";
  }

 private:
  double w_, h_;
  std::string body_;
};

/// Curves over steps 0 .. n-1 with x and y ticks, axis labels, and a legend to the right of the
/// plot (values in labels are the caller's: round them, e.g. with sig3).
class svg_line_chart {
 public:
  svg_line_chart(std::string title, std::string xlabel, std::string ylabel) : title_(std::move(title)), x_(std::move(xlabel)), y_(std::move(ylabel)) {}
  void add_line(std::string label, std::vector<double> ys) { lines_.push_back({std::move(label), std::move(ys)}); }

  [[nodiscard]] std::string render() const {
    double legend_w = 0;
    for (const auto& l : lines_) legend_w = std::max(legend_w, text_width(l.label, 12));
    const double left = 64, top = 44, bottom = 56, plot_w = 560, plot_h = 330, legend_x = left + plot_w + 24;
    const double rows_h = 18.0 * static_cast<double>(lines_.size()) + 12;
    const double w = std::max(legend_x + 40 + legend_w + 12, left + text_width(title_, 14) + 12), h = std::max(top + plot_h + bottom, top + rows_h);
    svg_canvas c(w, h);
    c.text(left, 24, title_, 14);
    double ymax = 0;
    std::size_t n = 1;
    for (const auto& l : lines_) {
      for (double v : l.ys)
        if (std::isfinite(v)) ymax = std::max(ymax, v);
      n = std::max(n, l.ys.size());
    }
    if (ymax <= 0) ymax = 1;
    {  // the axis ends on a tick (alpha_bar's 0.9999 ends at 1)
      const auto t = nice_ticks(0, ymax, 5);
      if (t.size() > 1 && t.back() < ymax) ymax = t.back() + (t[1] - t[0]);
    }
    const double x_span = static_cast<double>(std::max<std::size_t>(1, n - 1)), bottom_y = top + plot_h;
    auto px = [&](double k) { return left + plot_w * k / x_span; };
    auto py = [&](double v) { return bottom_y - plot_h * v / ymax; };
    for (double t : nice_ticks(0, ymax, 5)) {
      c.line(left, py(t), left + plot_w, py(t), "#e5e5e5");
      c.line(left - 4, py(t), left, py(t));
      c.text(left - 7, py(t) + 4, tick_text(t), 11, "end");
    }
    for (double t : nice_ticks(0, x_span, 6)) {
      c.line(px(t), bottom_y, px(t), bottom_y + 4);
      c.text(px(t), bottom_y + 17, tick_text(t), 11, "middle");
    }
    c.line(left, bottom_y, left + plot_w, bottom_y);
    c.line(left, top, left, bottom_y);
    c.text(left + plot_w / 2, h - 12, x_, 12, "middle");
    c.text(16, top + plot_h / 2, y_, 12, "middle", -90);
    for (std::size_t i = 0; i < lines_.size(); ++i) {
      std::string pts;
      const auto& ys = lines_[i].ys;
      const std::size_t stride = std::max<std::size_t>(1, ys.size() / 400);
      for (std::size_t k = 0; k < ys.size(); k += stride)
        if (std::isfinite(ys[k])) pts += fmt("%.1f,%.1f ", px(static_cast<double>(k)), py(ys[k]));
      if (!ys.empty() && std::isfinite(ys.back())) pts += fmt("%.1f,%.1f", px(static_cast<double>(ys.size() - 1)), py(ys.back()));
      c.polyline(pts, palette(i), dash_pattern(i));
      const double y = top + 18.0 * static_cast<double>(i) + 6;
      c.line(legend_x, y, legend_x + 32, y, palette(i), 2.2, dash_pattern(i));
      c.text(legend_x + 40, y + 4, lines_[i].label, 12);
    }
    return c.render();
  }

 private:
  struct line {
    std::string label;
    std::vector<double> ys;
  };
  std::string title_, x_, y_;
  std::vector<line> lines_;
};

/// Grouped bars on a [0, ymax] axis: one group per label (a method), one bar per series (Rel, Gen,
/// ...), an error bar of +- one standard deviation where given (several orders or seeds). Group
/// labels are rotated so long names never collide.
class svg_bar_chart {
 public:
  svg_bar_chart(std::string title, std::vector<std::string> series, double ymax = 1.0)
      : title_(std::move(title)), series_(std::move(series)), ymax_(ymax > 0 ? ymax : 1.0) {}
  /// `spread`: one standard deviation per value (empty, or 0, draws no error bar).
  void add_group(std::string label, std::vector<double> values, std::vector<double> spread = {}) {
    groups_.push_back({std::move(label), std::move(values), std::move(spread)});
  }

  /// Height the chart needs when drawn `width` wide (the rotated labels decide the bottom margin).
  [[nodiscard]] double label_depth() const {
    double longest = 0;
    for (const auto& g : groups_) longest = std::max(longest, text_width(g.label, 12));
    return longest * std::sin(kAngle * kPi / 180) + 24;
  }
  [[nodiscard]] double natural_width() const {
    return kLeft + group_width() * static_cast<double>(std::max<std::size_t>(1, groups_.size())) + 40 + legend_width();
  }

  /// Draws into `c` with the plot's top-left corner at (x0, y0), `plot_h` high.
  void draw(svg_canvas& c, double x0, double y0, double plot_h) const {
    const double left = x0 + kLeft, gw = group_width(), bottom_y = y0 + plot_h, right = left + gw * static_cast<double>(groups_.size());
    c.text(x0 + kLeft, y0 - 14, title_, 14);
    for (double t : nice_ticks(0, ymax_, 5)) {
      const double y = bottom_y - plot_h * t / ymax_;
      c.line(left, y, right, y, "#e5e5e5");
      c.text(left - 7, y + 4, sig3(t), 11, "end");
    }
    c.line(left, bottom_y, right, bottom_y);
    c.line(left, y0, left, bottom_y);
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const auto& G = groups_[g];
      const double gx = left + gw * static_cast<double>(g) + kGap / 2;
      for (std::size_t k = 0; k < G.values.size() && k < series_.size(); ++k) {
        const double v = G.values[k], bx = gx + kBar * static_cast<double>(k);
        const double bh = std::isfinite(v) ? plot_h * std::clamp(v / ymax_, 0.0, 1.0) : 0.0;
        const double sd = k < G.spread.size() ? G.spread[k] : 0.0;
        c.rect(bx, bottom_y - bh, kBar - 2, bh, palette(k), G.label + " " + series_[k] + " " + sig3(v) + (sd > 0 ? " +- " + sig3(sd) : ""));
        if (sd > 0 && std::isfinite(v)) {
          const double hi = bottom_y - plot_h * std::clamp((v + sd) / ymax_, 0.0, 1.0), lo = bottom_y - plot_h * std::clamp((v - sd) / ymax_, 0.0, 1.0);
          const double cx = bx + (kBar - 2) / 2;
          c.line(cx, hi, cx, lo, "black", 1.2);
          c.line(cx - 3, hi, cx + 3, hi, "black", 1.2);
          c.line(cx - 3, lo, cx + 3, lo, "black", 1.2);
        }
      }
      const double lx = gx + kBar * static_cast<double>(series_.size()) / 2;
      c.text(lx + 4, bottom_y + 14, G.label, 12, "end", -kAngle);
    }
    const double lx = right + 24;
    for (std::size_t k = 0; k < series_.size(); ++k) {
      c.rect(lx, y0 + 18.0 * static_cast<double>(k), 12, 12, palette(k));
      c.text(lx + 18, y0 + 18.0 * static_cast<double>(k) + 10, series_[k], 12);
    }
    bool any_spread = false;
    for (const auto& g : groups_)
      for (double s : g.spread) any_spread |= s > 0;
    if (any_spread) c.text(lx, y0 + 18.0 * static_cast<double>(series_.size()) + 12, "bars: +- 1 std", 11);
  }

 private:
  static constexpr double kLeft = 50, kBar = 15, kGap = 16, kAngle = 40, kPi = 3.14159265358979323846;
  [[nodiscard]] double group_width() const { return kBar * static_cast<double>(series_.size()) + kGap; }
  [[nodiscard]] double legend_width() const {
    double w = text_width("bars: +- 1 std", 11);
    for (const auto& s : series_) w = std::max(w, 18 + text_width(s, 12));
    return w + 8;
  }
  struct group {
    std::string label;
    std::vector<double> values, spread;
  };
  std::string title_;
  std::vector<std::string> series_;
  double ymax_;
  std::vector<group> groups_;
};

/// A rows x cols matrix of values in [0, 1] as shaded cells, with a title above and axis names.
/// Cells at least 22 px wide carry their value as a percentage.
struct svg_heatmap {
  std::string title, row_name, col_name;
  std::vector<std::vector<double>> values;  // rows of equal length
  std::vector<std::string> col_labels;      // optional, one per column (short)
  double cell = 12;

  [[nodiscard]] std::size_t rows() const { return values.size(); }
  [[nodiscard]] std::size_t cols() const { return values.empty() ? 0 : values[0].size(); }
  [[nodiscard]] double width() const { return std::max(28 + cell * static_cast<double>(cols()), text_width(title, 11)) + 8; }
  [[nodiscard]] double height() const { return 16 + cell * static_cast<double>(rows()) + 30; }

  /// Top-left corner of the block (title included) at (x0, y0).
  void draw(svg_canvas& c, double x0, double y0) const {
    c.text(x0, y0 + 11, title, 11);
    const double gx = x0 + 20, gy = y0 + 16;
    for (std::size_t r = 0; r < rows(); ++r)
      for (std::size_t k = 0; k < cols(); ++k) {
        const double v = values[r][k];
        c.rect(gx + cell * static_cast<double>(k), gy + cell * static_cast<double>(r), cell, cell, shade(v),
               fmt("%s %zu, %s %zu: %.3f", row_name.c_str(), r + 1, col_name.c_str(), k + 1, v), "#ffffff");
        if (cell >= 22) c.text(gx + cell * (static_cast<double>(k) + 0.5), gy + cell * (static_cast<double>(r) + 0.5) + 3.5,
                               fmt("%.0f", 100 * v), 9, "middle", 0, v > 0.5 ? " fill='white'" : "");
      }
    const double bottom = gy + cell * static_cast<double>(rows());
    c.text(gx, bottom + 12, col_name + " ->", 9);
    c.text(x0 + 8, gy + cell * static_cast<double>(rows()) / 2, row_name + " ->", 9, "middle", 90);
  }
};

}  // namespace beacon::cli
