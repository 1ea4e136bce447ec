// SPDX-License-Identifier: Apache-2.0
#pragma once
// NumPy .npy files (format versions 1-3) for the command-line tool: 2-D, C-order, float32 or
// float64, little-endian. Anything else is rejected with format_error saying what was found.

#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "../core/error.hpp"
#include "atomic_file.hpp"
#include "read_file.hpp"

namespace beacon::io {

struct npy_matrix {
  std::int64_t rows = 0, cols = 0;
  bool is_double = false;
  std::vector<double> values;  ///< row-major, converted to double
};

/// A 2-D .npy in the element type of the file: float32 stays float32 (half the memory of
/// npy_matrix, and computations that follow keep the file's precision).
template <class T>
struct npy_array {
  std::int64_t rows = 0, cols = 0;
  std::vector<T> values;  ///< row-major
};
/// What parse_npy_native returns: the file's dtype decides the alternative.
using npy_native = std::variant<npy_array<float>, npy_array<double>>;

namespace detail {
/// A strict reader of the header's Python dict literal, e.g.
///   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
/// Exactly the three keys, each once; string values in quotes, booleans True/False, the shape a
/// tuple of decimal integers. Anything else (a key hidden inside another value, junk, a fourth key)
/// is an error, as numpy's own reader treats it.
struct npy_header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

inline npy_header parse_npy_header(const std::string& h, const std::function<format_error(const std::string&)>& bad) {
  std::size_t at = 0;
  auto skip = [&] {
    while (at < h.size() && (h[at] == ' ' || h[at] == '\t' || h[at] == '\n' || h[at] == '\r')) ++at;
  };
  auto expect = [&](char c) {
    skip();
    if (at >= h.size() || h[at] != c) throw bad(beacon::concat("malformed header: expected '", c, "' at offset ", at));
    ++at;
  };
  auto peek = [&](char c) {
    skip();
    return at < h.size() && h[at] == c;
  };
  auto quoted = [&] {
    skip();
    if (at >= h.size() || (h[at] != '\'' && h[at] != '"')) throw bad(beacon::concat("malformed header: expected a quoted string at offset ", at));
    const char q = h[at++];
    const auto close = h.find(q, at);
    if (close == std::string::npos) throw bad("malformed header: unterminated string");
    std::string v = h.substr(at, close - at);
    at = close + 1;
    return v;
  };
  npy_header out;
  bool seen[3] = {false, false, false};
  expect('{');
  while (!peek('}')) {
    const std::string key = quoted();
    expect(':');
    skip();
    if (key == "descr" && !seen[0]) {
      out.descr = quoted();
      seen[0] = true;
    } else if (key == "fortran_order" && !seen[1]) {
      if (h.compare(at, 4, "True") == 0) out.fortran_order = true, at += 4;
      else if (h.compare(at, 5, "False") == 0) out.fortran_order = false, at += 5;
      else throw bad("malformed header: fortran_order is not True or False");
      seen[1] = true;
    } else if (key == "shape" && !seen[2]) {
      expect('(');
      while (!peek(')')) {
        skip();
        const std::size_t first = at;
        std::int64_t v = 0;
        while (at < h.size() && h[at] >= '0' && h[at] <= '9') {
          if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, h[at] - '0', &v)) throw bad("shape extent overflows a 64-bit integer");
          ++at;
        }
        if (at == first) throw bad(beacon::concat("malformed shape: expected a non-negative integer at offset ", at));
        out.shape.push_back(v);
        if (!peek(')')) expect(',');
      }
      ++at;
      seen[2] = true;
    } else {
      throw bad("malformed header: unexpected or repeated key '" + key + "' (expected descr, fortran_order and shape, once each)");
    }
    if (!peek('}')) expect(',');
  }
  ++at;
  skip();
  if (at != h.size()) throw bad(beacon::concat("malformed header: junk after the dictionary at offset ", at));
  if (!seen[0] || !seen[1] || !seen[2]) throw bad("malformed header: it lacks one of descr, fortran_order, shape");
  return out;
}
}  // namespace detail

namespace detail {
/// The validated layout of a .npy file's bytes: dtype, shape and where the data starts.
struct npy_layout {
  bool is_double = false;
  std::int64_t rows = 0, cols = 0;
  std::size_t count = 0;
  const std::byte* data = nullptr;
};

inline npy_layout parse_npy_layout(std::span<const std::byte> raw, const std::string& name) {
  auto bad = [&](const std::string& what) { return format_error("beacon::read_npy: '" + name + "': " + what); };
  auto byte_at = [&](std::size_t i) { return static_cast<unsigned char>(raw[i]); };
  if (raw.size() < 10 || std::memcmp(raw.data(), "\x93NUMPY", 6) != 0) throw bad("not a .npy file (bad magic)");
  const int major = byte_at(6);
  std::size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = byte_at(8) | (static_cast<std::size_t>(byte_at(9)) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (raw.size() < 12) throw bad("truncated header");
    for (int i = 3; i >= 0; --i) header_len = (header_len << 8) | byte_at(8 + static_cast<std::size_t>(i));
    start = 12;
  } else {
    throw bad("unsupported format version " + std::to_string(major));
  }
  if (header_len > raw.size() - start) throw bad("header is longer than the file");
  const auto header = parse_npy_header(std::string(reinterpret_cast<const char*>(raw.data()) + start, header_len), bad);
  npy_layout m;
  if (header.descr == "<f4") m.is_double = false;
  else if (header.descr == "<f8") m.is_double = true;
  else throw bad("dtype '" + header.descr + "' is not float32 or float64 ('<f4' / '<f8')");
  if (header.fortran_order) throw bad("Fortran-order arrays are not supported (save with C order)");
  if (header.shape.size() != 2) throw bad("expected a 2-D array, got " + std::to_string(header.shape.size()) + " dimensions");
  m.rows = header.shape[0];
  m.cols = header.shape[1];
  const std::size_t elem = m.is_double ? 8 : 4, have = raw.size() - start - header_len;
  std::uint64_t count = 0, need = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(m.rows), static_cast<std::uint64_t>(m.cols), &count) ||
      __builtin_mul_overflow(count, std::uint64_t{elem}, &need))
    throw bad(beacon::concat("shape (", m.rows, ", ", m.cols, ") is too large: its byte size overflows 64 bits"));
  if (have != need) throw bad(beacon::concat("data has ", have, " bytes, shape (", m.rows, ", ", m.cols, ") needs ", need));
  m.count = static_cast<std::size_t>(count);
  m.data = raw.data() + start + header_len;
  return m;
}

/// The layout's values as T (each element converted from the file's dtype).
template <class T>
std::vector<T> npy_values(const npy_layout& l) {
  std::vector<T> out(l.count);
  for (std::size_t i = 0; i < l.count; ++i) {
    if (l.is_double) {
      double v;
      std::memcpy(&v, l.data + 8 * i, 8);
      out[i] = static_cast<T>(v);
    } else {
      float v;
      std::memcpy(&v, l.data + 4 * i, 4);
      out[i] = static_cast<T>(v);
    }
  }
  return out;
}
}  // namespace detail

/// Parses the bytes of a .npy file; `name` names it in errors. Rejects, with format_error: a bad
/// magic or version, a header longer than the file, a malformed header, a dtype other than '<f4' /
/// '<f8', Fortran order, other than 2 dimensions, and a shape whose size overflows or disagrees
/// with the data. Values are converted to double (parse_npy_native keeps the file's dtype).
inline npy_matrix parse_npy(std::span<const std::byte> raw, const std::string& name) {
  const auto l = detail::parse_npy_layout(raw, name);
  return npy_matrix{l.rows, l.cols, l.is_double, detail::npy_values<double>(l)};
}

/// parse_npy, keeping the file's element type: npy_array<float> for '<f4', npy_array<double> for '<f8'.
inline npy_native parse_npy_native(std::span<const std::byte> raw, const std::string& name) {
  const auto l = detail::parse_npy_layout(raw, name);
  if (l.is_double) return npy_array<double>{l.rows, l.cols, detail::npy_values<double>(l)};
  return npy_array<float>{l.rows, l.cols, detail::npy_values<float>(l)};
}

/// Reads a .npy file (a regular file; see read_file.hpp) and parses it with parse_npy.
inline npy_matrix read_npy(const std::string& path) { return parse_npy(read_file(path, "read_npy"), path); }
/// Reads a .npy file and parses it with parse_npy_native (float32 stays float32).
inline npy_native read_npy_native(const std::string& path) { return parse_npy_native(read_file(path, "read_npy"), path); }

/// Writes a float32 or float64 C-order 2-D .npy (version 1), atomically.
template <class T>
void write_npy(const std::string& path, const std::vector<T>& values, std::int64_t rows, std::int64_t cols) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "write_npy: float or double");
  if (rows < 0 || cols < 0 || static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols) != values.size())
    throw shape_error(beacon::concat("beacon::write_npy: argument 'values' expected rows x cols = ", rows, " x ", cols, " elements, got ", values.size()));
  std::string header = beacon::concat("{'descr': '", sizeof(T) == 4 ? "<f4" : "<f8", "', 'fortran_order': False, 'shape': (", rows,
                                              ", ", cols, "), }");
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::vector<std::byte> out(10 + header.size() + values.size() * sizeof(T));
  std::memcpy(out.data(), "\x93NUMPY\x01\x00", 8);
  out[8] = static_cast<std::byte>(header.size() & 0xff);
  out[9] = static_cast<std::byte>(header.size() >> 8);
  std::memcpy(out.data() + 10, header.data(), header.size());
  if (!values.empty()) std::memcpy(out.data() + 10 + header.size(), values.data(), values.size() * sizeof(T));
  write_file_atomic(path, out);
}

}  // namespace beacon::io
