// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: the ZsRE JSON reader (edit/zsre.hpp). Any text must give records or a
// beacon::error; every record kept has a non-empty target.
#include <beacon/edit/zsre.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto r = beacon::edit::parse_zsre(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
    for (const auto& rec : r.records) FUZZ_CHECK(!rec.alt.empty());
  } catch (const beacon::error&) {
  }
  return 0;
}
