// SPDX-License-Identifier: Apache-2.0
#pragma once
// Plain-text tables that fit a width (100 columns by default): columns as wide as their widest
// cell; when the whole is too wide, the widest column is cut first, its cells ending in '~'. The
// full values belong in the command's JSON output.

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace beacon::cli {

/// Columns a UTF-8 string takes in a terminal (one per code point; no wide characters are printed).
inline std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

/// The first `width` columns of s; a cut string ends in '~'.
inline std::string fit_cell(const std::string& s, std::size_t width) {
  if (display_width(s) <= width) return s + std::string(width - display_width(s), ' ');
  std::string out;
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80 && ++n > width - 1) break;
    out += s[i];
  }
  return out + "~";
}

/// `text` broken after commas into lines of at most `width` columns (where a comma allows it); lines
/// after the first start with `indent` spaces. For long JSON values in plain-text reports.
inline std::string wrap_after_commas(const std::string& text, std::size_t first_column, std::size_t indent, std::size_t width = 100) {
  std::string out, line;
  std::size_t column = first_column;
  auto flush = [&](bool last) {
    out += line;
    if (!last) out += "\n" + std::string(indent, ' ');
    column = indent;
    line.clear();
  };
  std::size_t start = 0;
  while (start < text.size()) {
    auto comma = text.find(',', start);
    const std::string piece = text.substr(start, comma == std::string::npos ? std::string::npos : comma + 1 - start);
    if (!line.empty() && column + display_width(line) + display_width(piece) > width) flush(false);
    line += piece;
    start = comma == std::string::npos ? text.size() : comma + 1;
  }
  flush(true);
  return out;
}

class text_table {
 public:
  explicit text_table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add_row(std::vector<std::string> row) {
    row.resize(header_.size());
    rows_.push_back(std::move(row));
  }

  /// The table with one space between columns, every line at most `max_width` columns wide
  /// (columns shrink to 4 at least).
  [[nodiscard]] std::string render(std::size_t max_width = 100) const {
    std::vector<std::size_t> w(header_.size());
    for (std::size_t c = 0; c < header_.size(); ++c) {
      w[c] = display_width(header_[c]);
      for (const auto& r : rows_) w[c] = std::max(w[c], display_width(r[c]));
    }
    auto total = [&] {
      std::size_t t = w.empty() ? 0 : w.size() - 1;
      for (auto x : w) t += x;
      return t;
    };
    while (total() > max_width) {
      auto widest = std::max_element(w.begin(), w.end());
      if (*widest <= 4) break;
      --*widest;
    }
    std::string out;
    auto line = [&](const std::vector<std::string>& cells) {
      std::string l;
      for (std::size_t c = 0; c < cells.size(); ++c) l += (c ? " " : "") + fit_cell(cells[c], w[c]);
      while (!l.empty() && l.back() == ' ') l.pop_back();
      out += l + "\n";
    };
    line(header_);
    for (const auto& r : rows_) line(r);
    return out;
  }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace beacon::cli
