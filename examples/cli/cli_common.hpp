// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared pieces of the `beacon` command: output helpers and the exit-code contract
// (0 success, 1 unreadable or corrupt input, 2 bad usage).

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <beacon/io/atomic_file.hpp>

#include "numbers.hpp"

namespace beacon::cli {

/// Bad input data or files: exit code 1.
struct input_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A double with 17 significant digits; non-finite values as null (JSON has no NaN/Inf).
inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

inline std::string json_array(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += json_number(v[i]);
  }
  return s + "]";
}

inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += c;
  }
  return out + "\"";
}

/// Writes text to `path` through the library's one output path (io::write_file_atomic: a regular
/// file atomically, a device directly, every write checked), or to standard output when path is
/// empty or "-" (checked too). A failure is an io_error naming the path and the OS error (exit 1).
inline void emit(const std::string& path, std::string text) {
  if (!text.empty() && text.back() != '\n') text += '\n';
  const auto bytes = std::as_bytes(std::span<const char>(text.data(), text.size()));
  if (path.empty() || path == "-") {
    std::fflush(stdout);  // keep the order of earlier printf output
    io::write_to_descriptor(1, bytes, "standard output");
    return;
  }
  io::write_file_atomic(path, bytes);
}

/// JSON text that never throws on strings that are not UTF-8 (a path given on the command line):
/// invalid bytes become U+FFFD.
inline std::string json_text(const nlohmann::json& j, int indent = -1) { return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace); }

/// Lower-case words split on non-alphanumerics (the tool's tokenizer).
inline std::vector<std::string> tokenize(const std::string& text) {
  std::vector<std::string> words;
  std::string w;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!w.empty()) {
      words.push_back(w);
      w.clear();
    }
  }
  if (!w.empty()) words.push_back(w);
  return words;
}

void add_schedule_command(CLI::App& app);
void add_cluster_commands(CLI::App& app);
void add_inspect_command(CLI::App& app);
namespace edit_bench {
void add_edit_bench_command(CLI::App& app);
}

}  // namespace beacon::cli
