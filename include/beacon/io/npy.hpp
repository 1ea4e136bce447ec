// SPDX-License-Identifier: Apache-2.0
#pragma once
// NumPy .npy files (format versions 1-3) for the command-line tool: 2-D, C-order, float32 or
// float64, little-endian. Anything else is rejected with format_error saying what was found.

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "atomic_file.hpp"

namespace beacon::io {

struct npy_matrix {
  std::int64_t rows = 0, cols = 0;
  bool is_double = false;
  std::vector<double> values;  ///< row-major, converted to double
};

namespace detail {
inline std::string npy_field(const std::string& header, const std::string& key) {
  const auto at = header.find("'" + key + "'");
  if (at == std::string::npos) throw format_error("beacon::read_npy: header lacks '" + key + "'");
  auto colon = header.find(':', at);
  if (colon == std::string::npos) throw format_error("beacon::read_npy: malformed header near '" + key + "'");
  ++colon;
  while (colon < header.size() && header[colon] == ' ') ++colon;
  return header.substr(colon);
}
}  // namespace detail

inline npy_matrix read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error("beacon::read_npy: cannot open '" + path + "'");
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto bad = [&](const std::string& what) { return format_error("beacon::read_npy: '" + path + "': " + what); };
  if (raw.size() < 10 || std::memcmp(raw.data(), "\x93NUMPY", 6) != 0) throw bad("not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(raw[6]);
  std::size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(raw[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(raw[9])) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (raw.size() < 12) throw bad("truncated header");
    for (int i = 3; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(raw[8 + static_cast<std::size_t>(i)]);
    start = 12;
  } else {
    throw bad("unsupported format version " + std::to_string(major));
  }
  if (start + header_len > raw.size()) throw bad("header is longer than the file");
  const std::string header(raw.data() + start, header_len);
  const std::string descr = detail::npy_field(header, "descr");
  npy_matrix m;
  if (descr.rfind("'<f4'", 0) == 0) m.is_double = false;
  else if (descr.rfind("'<f8'", 0) == 0) m.is_double = true;
  else throw bad("dtype " + descr.substr(0, descr.find(',')) + " is not float32 or float64 ('<f4' / '<f8')");
  if (detail::npy_field(header, "fortran_order").rfind("False", 0) != 0) throw bad("Fortran-order arrays are not supported (save with C order)");
  const std::string shape = detail::npy_field(header, "shape");
  if (shape.empty() || shape[0] != '(') throw bad("malformed shape");
  const std::string dims = shape.substr(1, shape.find(')') - 1);
  std::vector<std::int64_t> extents;
  std::size_t pos = 0;
  while (pos < dims.size()) {
    while (pos < dims.size() && (dims[pos] == ' ' || dims[pos] == ',')) ++pos;
    if (pos >= dims.size()) break;
    std::size_t used = 0;
    try {
      extents.push_back(std::stoll(dims.substr(pos), &used));
    } catch (const std::exception&) {
      throw bad("malformed shape '(" + dims + ")'");
    }
    pos += used;
  }
  if (extents.size() != 2) throw bad("expected a 2-D array, got " + std::to_string(extents.size()) + " dimensions");
  m.rows = extents[0];
  m.cols = extents[1];
  const std::size_t elem = m.is_double ? 8 : 4;
  const std::size_t need = static_cast<std::size_t>(m.rows * m.cols) * elem;
  if (raw.size() - start - header_len != need)
    throw bad(beacon::concat("data has ", raw.size() - start - header_len, " bytes, shape needs ", need));
  m.values.resize(static_cast<std::size_t>(m.rows * m.cols));
  const char* data = raw.data() + start + header_len;
  for (std::size_t i = 0; i < m.values.size(); ++i) {
    if (m.is_double) std::memcpy(&m.values[i], data + 8 * i, 8);
    else {
      float f;
      std::memcpy(&f, data + 4 * i, 4);
      m.values[i] = f;
    }
  }
  return m;
}

/// Writes a float32 or float64 C-order 2-D .npy (version 1), atomically.
template <class T>
void write_npy(const std::string& path, const std::vector<T>& values, std::int64_t rows, std::int64_t cols) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "write_npy: float or double");
  std::string header = beacon::concat("{'descr': '", sizeof(T) == 4 ? "<f4" : "<f8", "', 'fortran_order': False, 'shape': (", rows,
                                              ", ", cols, "), }");
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::vector<std::byte> out(10 + header.size() + values.size() * sizeof(T));
  std::memcpy(out.data(), "\x93NUMPY\x01\x00", 8);
  out[8] = static_cast<std::byte>(header.size() & 0xff);
  out[9] = static_cast<std::byte>(header.size() >> 8);
  std::memcpy(out.data() + 10, header.data(), header.size());
  std::memcpy(out.data() + 10 + header.size(), values.data(), values.size() * sizeof(T));
  write_file_atomic(path, out);
}

}  // namespace beacon::io
