// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: the `beacon` command's numeric option parser (examples/cli/numbers.hpp). What it
// accepts must be in range and finite, and must read back the same when printed; what it refuses must
// come with a message naming the range.
#include "cli/numbers.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string why;
  for (auto [lo, hi] : {std::pair{1LL, 4096LL}, std::pair{0LL, beacon::cli::max_seed}, std::pair{-5LL, 5LL}}) {
    why.clear();
    if (const auto v = beacon::cli::parse_integer(text, lo, hi, why)) {
      FUZZ_CHECK(*v >= lo && *v <= hi);
      std::string again;
      FUZZ_CHECK(beacon::cli::parse_integer(std::to_string(*v), lo, hi, again) == v);
    } else {
      FUZZ_CHECK(why.find("expected an integer in [") != std::string::npos);
    }
  }
  for (bool open_low : {false, true}) {
    why.clear();
    if (const auto v = beacon::cli::parse_real(text, 0.0, 10.0, open_low, why)) {
      FUZZ_CHECK(std::isfinite(*v) && *v >= 0.0 && *v <= 10.0 && !(open_low && *v == 0.0));
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", *v);
      std::string again;
      FUZZ_CHECK(beacon::cli::parse_real(buf, 0.0, 10.0, open_low, again) == v);
    } else {
      FUZZ_CHECK(why.find("number in ") != std::string::npos);
    }
  }
  return 0;
}
