// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: the .npy parser (io/npy.hpp) on arbitrary bytes. Any input must parse or throw
// a beacon::error; a crash, a sanitizer report, a leak or a hang is a bug.
#include <beacon/io/npy.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto m = beacon::io::parse_npy(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), "fuzz.npy");
    FUZZ_CHECK(m.rows >= 0 && m.cols >= 0);
    FUZZ_CHECK(static_cast<std::uint64_t>(m.rows) * static_cast<std::uint64_t>(m.cols) == m.values.size());  // the shape describes the values
  } catch (const beacon::error&) {
  }
  return 0;
}
