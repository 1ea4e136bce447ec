// SPDX-License-Identifier: Apache-2.0
#pragma once
// Minimal SVG charts for the command-line tool: line charts (schedules) and grouped bars (results).

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

inline const char* palette(std::size_t i) {
  static const char* colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return colours[i % 10];
}

class svg_chart {
 public:
  svg_chart(std::string title, std::string xlabel, std::string ylabel) : title_(std::move(title)), x_(std::move(xlabel)), y_(std::move(ylabel)) {}
  void add_line(std::string label, std::vector<double> ys) { lines_.push_back({std::move(label), std::move(ys)}); }

  [[nodiscard]] std::string render() const {
    const double w = 760, h = 420, left = 60, right = 200, top = 40, bottom = 50;
    double ymax = 0;
    std::size_t n = 1;
    for (const auto& l : lines_) {
      for (double v : l.ys)
        if (std::isfinite(v)) ymax = std::max(ymax, v);
      n = std::max(n, l.ys.size());
    }
    if (ymax <= 0) ymax = 1;
    std::string s = fmt("<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' font-family='sans-serif' font-size='12'>\n", w, h);
    s += fmt("<text x='%.0f' y='20' font-size='14'>", left) + svg_escape(title_) + "</text>\n";
    s += fmt("<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='black'/>\n", left, h - bottom, w - right, h - bottom);
    s += fmt("<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='black'/>\n", left, top, left, h - bottom);
    for (int t = 0; t <= 4; ++t) {
      const double v = ymax * t / 4, y = h - bottom - (h - top - bottom) * t / 4;
      s += fmt("<text x='%.0f' y='%.1f' text-anchor='end'>", left - 5, y + 4) + fmt("%.2g", v) + "</text>\n";
    }
    s += fmt("<text x='%.0f' y='%.0f' text-anchor='middle'>", (left + w - right) / 2, h - 15) + svg_escape(x_) + fmt(" (0 .. %zu)", n - 1) + "</text>\n";
    s += fmt("<text x='15' y='%.0f' transform='rotate(-90 15 %.0f)' text-anchor='middle'>", (top + h - bottom) / 2, (top + h - bottom) / 2) +
         svg_escape(y_) + "</text>\n";
    for (std::size_t i = 0; i < lines_.size(); ++i) {
      std::string pts;
      const auto& ys = lines_[i].ys;
      const std::size_t stride = std::max<std::size_t>(1, ys.size() / 400);
      for (std::size_t k = 0; k < ys.size(); k += stride) {
        if (!std::isfinite(ys[k])) continue;
        const double x = left + (w - left - right) * static_cast<double>(k) / static_cast<double>(std::max<std::size_t>(1, n - 1));
        const double y = h - bottom - (h - top - bottom) * ys[k] / ymax;
        pts += fmt("%.1f,%.1f ", x, y);
      }
      s += std::string("<polyline fill='none' stroke-width='1.5' stroke='") + palette(i) + "' points='" + pts + "'/>\n";
      s += fmt("<rect x='%.0f' y='%.0f' width='12' height='3' fill='", w - right + 10, top + 16.0 * static_cast<double>(i)) + palette(i) + "'/>";
      s += fmt("<text x='%.0f' y='%.0f'>", w - right + 28, top + 16.0 * static_cast<double>(i) + 5) + svg_escape(lines_[i].label) + "</text>\n";
    }
    return s + "</svg>\n";
  }

 private:
  struct line {
    std::string label;
    std::vector<double> ys;
  };
  std::string title_, x_, y_;
  std::vector<line> lines_;
};

}  // namespace beacon::cli

namespace beacon::cli {

/// Grouped bar chart: one group per label (e.g. a method), one bar per series (e.g. Rel/Gen/Loc/Avg),
/// values on a fixed [0, ymax] axis.
class svg_bar_chart {
 public:
  svg_bar_chart(std::string title, std::vector<std::string> series, double ymax = 1.0)
      : title_(std::move(title)), series_(std::move(series)), ymax_(ymax > 0 ? ymax : 1.0) {}
  void add_group(std::string label, std::vector<double> values) { groups_.push_back({std::move(label), std::move(values)}); }

  [[nodiscard]] std::string render() const {
    const double left = 60, right = 110, top = 40, bottom = 70, group_w = 30.0 * static_cast<double>(series_.size() + 1);
    const double w = left + right + group_w * static_cast<double>(std::max<std::size_t>(1, groups_.size())), h = 420;
    const double plot_h = h - top - bottom;
    std::string s = fmt("<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' font-family='sans-serif' font-size='12'>\n", w, h);
    s += fmt("<text x='%.0f' y='20' font-size='14'>", left) + svg_escape(title_) + "</text>\n";
    s += fmt("<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='black'/>\n", left, h - bottom, w - right, h - bottom);
    s += fmt("<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='black'/>\n", left, top, left, h - bottom);
    for (int t = 0; t <= 4; ++t) {
      const double v = ymax_ * t / 4, y = h - bottom - plot_h * t / 4;
      s += fmt("<text x='%.0f' y='%.1f' text-anchor='end'>", left - 5, y + 4) + fmt("%.2g", v) + "</text>\n";
      s += fmt("<line x1='%.0f' y1='%.1f' x2='%.0f' y2='%.1f' stroke='#ddd'/>\n", left, y, w - right, y);
    }
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const double x0 = left + group_w * static_cast<double>(g) + 15;
      for (std::size_t k = 0; k < groups_[g].values.size() && k < series_.size(); ++k) {
        const double v = groups_[g].values[k];
        const double bh = std::isfinite(v) ? plot_h * std::clamp(v / ymax_, 0.0, 1.0) : 0.0;
        s += fmt("<rect x='%.1f' y='%.1f' width='26' height='%.1f' fill='", x0 + 30.0 * static_cast<double>(k), h - bottom - bh, bh) +
             palette(k) + "'><title>" + svg_escape(groups_[g].label + " " + series_[k]) + fmt(" %.3f", v) + "</title></rect>\n";
      }
      s += fmt("<text x='%.1f' y='%.0f' text-anchor='middle'>", x0 + 15.0 * static_cast<double>(series_.size()), h - bottom + 18) +
           svg_escape(groups_[g].label) + "</text>\n";
    }
    for (std::size_t k = 0; k < series_.size(); ++k) {
      s += fmt("<rect x='%.0f' y='%.0f' width='12' height='12' fill='", w - right + 15, top + 18.0 * static_cast<double>(k)) + palette(k) + "'/>";
      s += fmt("<text x='%.0f' y='%.0f'>", w - right + 32, top + 18.0 * static_cast<double>(k) + 10) + svg_escape(series_[k]) + "</text>\n";
    }
    return s + "</svg>\n";
  }

 private:
  struct group {
    std::string label;
    std::vector<double> values;
  };
  std::string title_;
  std::vector<std::string> series_;
  double ymax_;
  std::vector<group> groups_;
};

}  // namespace beacon::cli
