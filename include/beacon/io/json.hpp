// SPDX-License-Identifier: Apache-2.0
#pragma once
// Parsing untrusted JSON (safetensors headers, checkpoint metadata, ZsRE files) with a nesting limit
// and strict field access. A file nested deeper than max_json_depth is refused while it is parsed:
// the parser itself is iterative, but printing or walking such a value recurses once per level and
// would overflow the stack. Fields are read with their type and range checked, never converted
// (nlohmann's get<int>() of 1e300 is undefined behaviour).

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"

namespace beacon::io {

inline constexpr int max_json_depth = 64;

/// `text` parsed; a syntax error or nesting deeper than max_depth is a format_error starting with `what`.
inline nlohmann::json parse_json(std::string_view text, const std::string& what, int max_depth = max_json_depth) {
  struct too_deep {};
  const nlohmann::json::parser_callback_t limit = [max_depth](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start) && depth >= max_depth)
      throw too_deep{};
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), limit);
  } catch (const too_deep&) {
    throw format_error(beacon::concat(what, ": JSON nested deeper than ", max_depth, " levels"));
  } catch (const nlohmann::json::exception& e) {
    throw format_error(beacon::concat(what, ": not valid JSON: ", e.what()));
  }
}

/// j[key] as an integer in [lo, hi]; missing, non-integer or out of range is a format_error.
inline std::int64_t integer_field(const nlohmann::json& j, const char* key, std::int64_t lo, std::int64_t hi, const std::string& what) {
  if (!j.is_object() || !j.contains(key)) throw format_error(beacon::concat(what, ": lacks '", key, "'"));
  const auto& v = j.at(key);
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw format_error(beacon::concat(what, ": '", key, "' is ", v.get<std::uint64_t>(), ", expected an integer in [", lo, ", ", hi, "]"));
  if (!v.is_number_integer()) throw format_error(beacon::concat(what, ": '", key, "' is ", v.dump(), ", expected an integer"));
  const auto x = v.get<std::int64_t>();
  if (x < lo || x > hi) throw format_error(beacon::concat(what, ": '", key, "' is ", x, ", expected an integer in [", lo, ", ", hi, "]"));
  return x;
}

/// j[key] as a finite number.
inline double real_field(const nlohmann::json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key)) throw format_error(beacon::concat(what, ": lacks '", key, "'"));
  const auto& v = j.at(key);
  if (!v.is_number()) throw format_error(beacon::concat(what, ": '", key, "' is ", v.dump(), ", expected a number"));
  const double x = v.get<double>();
  if (!std::isfinite(x)) throw format_error(beacon::concat(what, ": '", key, "' is not finite"));
  return x;
}

/// j[key] as a boolean.
inline bool bool_field(const nlohmann::json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key)) throw format_error(beacon::concat(what, ": lacks '", key, "'"));
  const auto& v = j.at(key);
  if (!v.is_boolean()) throw format_error(beacon::concat(what, ": '", key, "' is ", v.dump(), ", expected true or false"));
  return v.get<bool>();
}

/// A decimal integer that is the whole of `text` (no sign, no spaces, no junk) in [lo, hi].
inline std::int64_t parse_count(const std::string& text, std::int64_t lo, std::int64_t hi, const std::string& what) {
  std::int64_t x = 0;
  bool ok = !text.empty() && text.size() <= 18;  // 18 digits cannot overflow
  for (std::size_t i = 0; ok && i < text.size(); ++i) {  // stops at the first bad character, before any overflow
    const char c = text[i];
    if (c < '0' || c > '9') ok = false;
    else x = x * 10 + (c - '0');
  }
  if (!ok || x < lo || x > hi) throw format_error(beacon::concat(what, " is '", text, "', expected an integer in [", lo, ", ", hi, "]"));
  return x;
}

}  // namespace beacon::io
