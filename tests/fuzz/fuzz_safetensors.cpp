// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: the safetensors reader (io/safetensors.hpp). Every tensor of a file that parses
// is read back with its dtype; its byte range must lie inside the data buffer.
#include <beacon/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(size);
  if (size > 0) std::memcpy(bytes.data(), data, size);
  try {
    const auto f = beacon::io::safetensors_file::parse(std::move(bytes));
    for (const auto& t : f.tensors) {
      FUZZ_CHECK(t.begin <= t.end && t.end <= f.data().size());
      const std::size_t bytes = t.end - t.begin;
      switch (t.type) {  // every tensor reads back with as many elements as its byte range holds
        case beacon::io::dtype::f32: FUZZ_CHECK(f.read<float>(t.name).size() * 4 == bytes); break;
        case beacon::io::dtype::f64: FUZZ_CHECK(f.read<double>(t.name).size() * 8 == bytes); break;
        case beacon::io::dtype::i32: FUZZ_CHECK(f.read<std::int32_t>(t.name).size() * 4 == bytes); break;
        case beacon::io::dtype::i64: FUZZ_CHECK(f.read<std::int64_t>(t.name).size() * 8 == bytes); break;
      }
    }
  } catch (const beacon::error&) {
  }
  return 0;
}
