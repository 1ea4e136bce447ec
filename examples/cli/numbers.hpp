// SPDX-License-Identifier: Apache-2.0
#pragma once
// Strict parsing of the `beacon` command's numeric options. Every number is the whole argument (no
// trailing junk, no spaces, no hex), finite, and inside the option's documented range; a value
// outside it is a usage error (exit 2) that names the option, the range and the value — never
// silently wrapped (--seed -1) or clamped. The parsers are plain functions (the fuzz harness
// tests/fuzz/fuzz_numbers.cpp drives them); the CLI11 validators below wrap them.

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace beacon::cli {

inline constexpr long long max_seed = std::numeric_limits<long long>::max();

/// The range as the help and the errors print it: "[1, 4096]", "(0, 10]".
inline std::string range_text(double lo, double hi, bool open_low) {
  auto num = [](double v) {
    if (v == static_cast<double>(max_seed)) return std::string("2^63-1");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return std::string(buf);
  };
  return (open_low ? "(" : "[") + num(lo) + ", " + num(hi) + "]";
}

/// `text` as an integer in [lo, hi]; std::nullopt with `why` set otherwise.
inline std::optional<long long> parse_integer(std::string_view text, long long lo, long long hi, std::string& why) {
  long long v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first != last && *first == '+' && last - first > 1 && first[1] != '-') ++first;  // from_chars takes '-' but not '+'
  const auto [end, ec] = std::from_chars(first, last, v);
  if (text.empty() || ec == std::errc::invalid_argument || end != last) {
    why = "expected an integer in " + range_text(static_cast<double>(lo), static_cast<double>(hi), false) + ", got '" + std::string(text) + "'";
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || v < lo || v > hi) {
    why = "expected an integer in " + range_text(static_cast<double>(lo), static_cast<double>(hi), false) + ", got " + std::string(text);
    return std::nullopt;
  }
  return v;
}

/// `text` as a finite number in [lo, hi] (or (lo, hi] with open_low); std::nullopt with `why` set otherwise.
inline std::optional<double> parse_real(std::string_view text, double lo, double hi, bool open_low, std::string& why) {
  double v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first != last && *first == '+' && last - first > 1 && first[1] != '-') ++first;
  const auto [end, ec] = std::from_chars(first, last, v, std::chars_format::general);
  const std::string range = range_text(lo, hi, open_low);
  if (text.empty() || ec == std::errc::invalid_argument || end != last) {
    why = "expected a number in " + range + ", got '" + std::string(text) + "'";
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || !std::isfinite(v) || v < lo || v > hi || (open_low && v == lo)) {
    why = "expected a finite number in " + range + ", got " + std::string(text);
    return std::nullopt;
  }
  return v;
}

/// CLI11 validator: an integer in [lo, hi].
inline CLI::Validator integer_in(long long lo, long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) {
        std::string why;
        return parse_integer(s, lo, hi, why) ? std::string() : why;
      },
      "INT in " + range_text(static_cast<double>(lo), static_cast<double>(hi), false));
}

/// CLI11 validator: a finite number in [lo, hi], or (lo, hi] with open_low.
inline CLI::Validator real_in(double lo, double hi, bool open_low = false) {
  return CLI::Validator(
      [lo, hi, open_low](std::string& s) {
        std::string why;
        return parse_real(s, lo, hi, open_low, why) ? std::string() : why;
      },
      "NUMBER in " + range_text(lo, hi, open_low));
}

}  // namespace beacon::cli
