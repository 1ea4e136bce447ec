// SPDX-License-Identifier: Apache-2.0
#pragma once
// Checks the text of an SVG picture the way a reader would: every label lies on the canvas and no
// two labels overlap. A label's box is estimated from its font size (0.6 em per character, from
// 0.8 em above the baseline to 0.25 em below), placed by text-anchor and turned by a
// rotate(angle cx cy) transform; boxes are compared as rotated rectangles (separating axes).

#include <array>
#include <cmath>
#include <regex>
#include <string>
#include <vector>

namespace beacon_cli_test {

struct text_box {
  std::string text;
  std::array<double, 8> corners;  // x0 y0 x1 y1 x2 y2 x3 y3, in order around the box
};

inline double svg_attribute(const std::string& tag, const std::string& name, double fallback) {
  const std::regex re("\\s" + name + "='([-0-9.eE+]+)'");
  std::smatch m;
  return std::regex_search(tag, m, re) ? std::stod(m[1]) : fallback;
}

inline std::vector<text_box> svg_text_boxes(const std::string& svg, double& width, double& height) {
  std::smatch m;
  const std::regex root("<svg[^>]*\\swidth='([0-9.]+)'[^>]*\\sheight='([0-9.]+)'");
  width = height = 0;
  if (std::regex_search(svg, m, root)) width = std::stod(m[1]), height = std::stod(m[2]);
  std::vector<text_box> boxes;
  const std::regex text("<text([^>]*)>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), text); it != std::sregex_iterator(); ++it) {
    const std::string tag = (*it)[1], content = (*it)[2];
    std::size_t chars = 0;
    for (std::size_t i = 0; i < content.size(); ++i) {
      const auto c = static_cast<unsigned char>(content[i]);
      if (c == '&') i = content.find(';', i);  // an entity is one character
      if ((c & 0xC0) != 0x80) ++chars;
    }
    const double size = svg_attribute(tag, "font-size", 12), x = svg_attribute(tag, "x", 0), y = svg_attribute(tag, "y", 0);
    const double w = 0.6 * size * static_cast<double>(chars);
    double left = x;
    if (tag.find("text-anchor='middle'") != std::string::npos) left = x - w / 2;
    if (tag.find("text-anchor='end'") != std::string::npos) left = x - w;
    std::array<double, 8> c = {left, y - 0.8 * size, left + w, y - 0.8 * size, left + w, y + 0.25 * size, left, y + 0.25 * size};
    std::smatch r;
    if (std::regex_search(tag, r, std::regex("rotate\\(([-0-9.]+) ([-0-9.]+) ([-0-9.]+)\\)"))) {
      const double a = std::stod(r[1]) * 3.14159265358979323846 / 180, cx = std::stod(r[2]), cy = std::stod(r[3]);
      for (int k = 0; k < 4; ++k) {
        const double dx = c[2 * k] - cx, dy = c[2 * k + 1] - cy;
        c[2 * k] = cx + dx * std::cos(a) - dy * std::sin(a);
        c[2 * k + 1] = cy + dx * std::sin(a) + dy * std::cos(a);
      }
    }
    boxes.push_back({content, c});
  }
  return boxes;
}

/// True when the two rotated rectangles share interior points (touching edges do not count).
inline bool boxes_overlap(const text_box& a, const text_box& b) {
  for (const auto* box : {&a, &b})
    for (int e = 0; e < 2; ++e) {  // two edge directions per rectangle
      const double ax = box->corners[2 * (e + 1)] - box->corners[2 * e], ay = box->corners[2 * (e + 1) + 1] - box->corners[2 * e + 1];
      const double nx = -ay, ny = ax;
      double amin = 1e300, amax = -1e300, bmin = 1e300, bmax = -1e300;
      for (int k = 0; k < 4; ++k) {
        const double pa = a.corners[2 * k] * nx + a.corners[2 * k + 1] * ny, pb = b.corners[2 * k] * nx + b.corners[2 * k + 1] * ny;
        amin = std::min(amin, pa), amax = std::max(amax, pa), bmin = std::min(bmin, pb), bmax = std::max(bmax, pb);
      }
      const double slack = 1e-6 * std::hypot(nx, ny);
      if (amax <= bmin + slack || bmax <= amin + slack) return false;
    }
  return true;
}

/// Every problem found: labels that leave the canvas, pairs of labels that overlap.
inline std::vector<std::string> svg_layout_problems(const std::string& svg) {
  double width = 0, height = 0;
  const auto boxes = svg_text_boxes(svg, width, height);
  std::vector<std::string> problems;
  if (width <= 0 || height <= 0) problems.push_back("no width/height on <svg>");
  for (const auto& b : boxes)
    for (int k = 0; k < 4; ++k)
      if (b.corners[2 * k] < -0.5 || b.corners[2 * k] > width + 0.5 || b.corners[2 * k + 1] < -0.5 || b.corners[2 * k + 1] > height + 0.5) {
        problems.push_back("'" + b.text + "' leaves the canvas");
        break;
      }
  for (std::size_t i = 0; i < boxes.size(); ++i)
    for (std::size_t j = i + 1; j < boxes.size(); ++j)
      if (boxes_overlap(boxes[i], boxes[j])) problems.push_back("'" + boxes[i].text + "' overlaps '" + boxes[j].text + "'");
  return problems;
}

}  // namespace beacon_cli_test
