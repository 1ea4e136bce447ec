// SPDX-License-Identifier: Apache-2.0
#pragma once
// safetensors (the Hugging Face format, readable from Python) — writer and validating reader.
//
//   [8-byte little-endian u64 N][N bytes of JSON header][data buffer]
//   header: {"__metadata__": {str: str}, "<tensor>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
// Offsets are relative to the data buffer. The reader rejects, with format_error naming what is
// wrong: files shorter than 8 bytes, a header longer than the file or than 100 MB, JSON that does
// not parse or is not an object, unknown dtypes, negative or non-integer shapes, offsets out of
// bounds, reversed, overlapping or leaving holes, and sizes that disagree with shape x dtype.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "atomic_file.hpp"
#include "json.hpp"
#include "read_file.hpp"

namespace beacon::io {

enum class dtype { f32, f64, i32, i64 };

inline const char* dtype_name(dtype t) {
  switch (t) {
    case dtype::f32: return "F32";
    case dtype::f64: return "F64";
    case dtype::i32: return "I32";
    case dtype::i64: return "I64";
  }
  return "?";
}
inline std::size_t dtype_size(dtype t) { return t == dtype::f32 || t == dtype::i32 ? 4 : 8; }

template <class T>
constexpr dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>) return dtype::f32;
  else if constexpr (std::is_same_v<T, double>) return dtype::f64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return dtype::i32;
  else {
    static_assert(std::is_same_v<T, std::int64_t>, "beacon::io: unsupported element type");
    return dtype::i64;
  }
}

struct tensor_info {
  std::string name;
  dtype type = dtype::f32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  ///< within the data buffer
};

/// A parsed, validated safetensors file (owns its bytes).
class safetensors_file {
 public:
  std::map<std::string, std::string> metadata;
  std::vector<tensor_info> tensors;  ///< in data-offset order

  [[nodiscard]] const tensor_info& info(const std::string& name) const {
    for (const auto& t : tensors)
      if (t.name == name) return t;
    throw format_error("beacon::safetensors: tensor '" + name + "' is missing");
  }
  [[nodiscard]] bool has(const std::string& name) const {
    return std::any_of(tensors.begin(), tensors.end(), [&](const tensor_info& t) { return t.name == name; });
  }
  [[nodiscard]] std::span<const std::byte> data() const { return {bytes_.data() + data_start_, bytes_.size() - data_start_}; }

  /// The tensor's elements; its dtype must be T's.
  template <class T>
  [[nodiscard]] std::vector<T> read(const std::string& name) const {
    const tensor_info& t = info(name);
    if (t.type != dtype_of<T>())
      throw format_error(beacon::concat("beacon::safetensors: tensor '", name, "' has dtype ", dtype_name(t.type), ", expected ",
                                        dtype_name(dtype_of<T>())));
    std::vector<T> out((t.end - t.begin) / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), data().data() + t.begin, t.end - t.begin);
    return out;
  }

  static safetensors_file parse(std::vector<std::byte> bytes);

 private:
  std::vector<std::byte> bytes_;
  std::size_t data_start_ = 0;
};

inline constexpr std::uint64_t max_header_bytes = 100u << 20;

inline safetensors_file safetensors_file::parse(std::vector<std::byte> bytes) {
  auto bad = [](const std::string& what) -> format_error { return format_error("beacon::safetensors: " + what); };
  if (bytes.size() < 8) throw bad(beacon::concat("file of ", bytes.size(), " bytes is shorter than the 8-byte header length"));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint64_t>(bytes[static_cast<std::size_t>(i)]);
  if (n > max_header_bytes) throw bad(beacon::concat("header length ", n, " exceeds the 100 MB limit"));
  if (n > bytes.size() - 8) throw bad(beacon::concat("header length ", n, " exceeds the ", bytes.size() - 8, " bytes after it"));
  const nlohmann::json header = parse_json(std::string_view(reinterpret_cast<const char*>(bytes.data()) + 8, static_cast<std::size_t>(n)),
                                           "beacon::safetensors: header");
  if (!header.is_object()) throw bad("header is not a JSON object");
  safetensors_file f;
  const std::uint64_t data_size = bytes.size() - 8 - n;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) throw bad("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) throw bad("__metadata__ value '" + m.key() + "' is not a string");
        f.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const auto& t = *it;
    const std::string where = "tensor '" + it.key() + "'";
    if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") || !t.contains("data_offsets"))
      throw bad(where + " lacks dtype, shape or data_offsets");
    tensor_info info;
    info.name = it.key();
    if (!t["dtype"].is_string()) throw bad(where + ": dtype is not a string");
    const auto dt = t["dtype"].get<std::string>();
    if (dt == "F32") info.type = dtype::f32;
    else if (dt == "F64") info.type = dtype::f64;
    else if (dt == "I32") info.type = dtype::i32;
    else if (dt == "I64") info.type = dtype::i64;
    else throw bad(where + ": unsupported dtype '" + dt + "' (expected F32, F64, I32 or I64)");
    if (!t["shape"].is_array()) throw bad(where + ": shape is not an array");
    std::uint64_t count = 1, bytes_needed = 0;  // overflow-checked: a product that wraps must not pass as small
    bool overflow = false;
    for (const auto& s : t["shape"]) {
      if (!s.is_number_unsigned()) throw bad(where + ": shape entries must be non-negative integers");  // JSON's non-negative integers parse unsigned
      const auto e = s.get<std::uint64_t>();
      if (e > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) throw bad(where + ": shape entry is too large");
      info.shape.push_back(static_cast<std::int64_t>(e));
      overflow = overflow || __builtin_mul_overflow(count, e, &count);
    }
    overflow = overflow || __builtin_mul_overflow(count, std::uint64_t{dtype_size(info.type)}, &bytes_needed);
    if (overflow) throw bad(where + ": shape x dtype size overflows 64 bits");
    const auto& off = t["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad(where + ": data_offsets must be two non-negative integers");
    info.begin = off[0].get<std::uint64_t>();
    info.end = off[1].get<std::uint64_t>();
    if (info.begin > info.end) throw bad(beacon::concat(where, ": data_offsets [", info.begin, ", ", info.end, "] are reversed"));
    if (info.end > data_size) throw bad(beacon::concat(where, ": data_offsets end ", info.end, " is past the data buffer (", data_size, " bytes)"));
    if (info.end - info.begin != bytes_needed)
      throw bad(beacon::concat(where, ": ", info.end - info.begin, " bytes do not match shape x dtype (", bytes_needed, ")"));
    f.tensors.push_back(std::move(info));
  }
  std::sort(f.tensors.begin(), f.tensors.end(), [](const tensor_info& a, const tensor_info& b) {
    return a.begin < b.begin || (a.begin == b.begin && a.end < b.end);
  });
  std::uint64_t cursor = 0;
  for (const auto& t : f.tensors) {
    if (t.begin < cursor) throw bad("tensor '" + t.name + "' overlaps the previous tensor");
    if (t.begin > cursor) throw bad("a hole in the data buffer before tensor '" + t.name + "'");
    cursor = t.end;
  }
  if (cursor != data_size) throw bad(beacon::concat("the data buffer has ", data_size - cursor, " bytes no tensor describes"));
  f.bytes_ = std::move(bytes);
  f.data_start_ = 8 + static_cast<std::size_t>(n);
  return f;
}

/// Reads and validates a file. I/O errors are beacon::error; content errors format_error.
inline safetensors_file read_safetensors(const std::string& path) {
  std::vector<std::byte> bytes = read_file(path, "read_safetensors");
  try {
    return safetensors_file::parse(std::move(bytes));
  } catch (const format_error& e) {
    throw format_error(std::string(e.what()) + " (in '" + path + "')");
  }
}

/// A tensor to write: raw little-endian elements.
struct tensor_view_bytes {
  std::string name;
  dtype type;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;
};

template <class T>
tensor_view_bytes tensor_bytes(std::string name, std::vector<std::int64_t> shape, const std::vector<T>& values) {
  return {std::move(name), dtype_of<T>(), std::move(shape), std::as_bytes(std::span<const T>(values))};
}
/// The view would outlive a temporary vector: keep the values alive instead.
template <class T>
tensor_view_bytes tensor_bytes(std::string, std::vector<std::int64_t>, const std::vector<T>&&) = delete;

/// The file image: header (padded with spaces to a multiple of 8) then the tensors in order.
inline std::vector<std::byte> serialize_safetensors(const std::map<std::string, std::string>& metadata,
                                                    const std::vector<tensor_view_bytes>& tensors) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__" || header.contains(t.name))
      throw value_error("beacon::serialize_safetensors: argument 'tensors' expected unique names other than __metadata__, got '" + t.name + "' twice");
    std::uint64_t count = 1;
    bool overflow = false;
    for (auto s : t.shape) overflow = overflow || s < 0 || __builtin_mul_overflow(count, static_cast<std::uint64_t>(s), &count);
    if (overflow || count * dtype_size(t.type) != t.bytes.size())
      throw shape_error(beacon::concat("beacon::serialize_safetensors: tensor '", t.name, "' has ", t.bytes.size(), " bytes, shape needs ",
                                       count * dtype_size(t.type)));
    header[t.name] = {{"dtype", dtype_name(t.type)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<std::byte> out(8 + text.size() + offset);
  const auto n = static_cast<std::uint64_t>(text.size());
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xffu);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::size_t at = 8 + text.size();
  for (const auto& t : tensors) {
    if (!t.bytes.empty()) std::memcpy(out.data() + at, t.bytes.data(), t.bytes.size());
    at += t.bytes.size();
  }
  return out;
}

/// FNV-1a 64-bit over bytes, as "fnv1a64:<16 hex digits>" (the checkpoint checksum).
inline std::string fnv1a64(std::span<const std::byte> bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::byte b : bytes) {
    h ^= static_cast<std::uint64_t>(b);
    h *= 0x100000001b3ULL;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace beacon::io
