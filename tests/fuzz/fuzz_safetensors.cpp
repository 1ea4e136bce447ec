// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: the safetensors reader (io/safetensors.hpp). Every tensor of a file that parses
// is read back with its dtype; its byte range must lie inside the data buffer.
#include <beacon/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(size);
  if (size > 0) std::memcpy(bytes.data(), data, size);
  try {
    const auto f = beacon::io::safetensors_file::parse(std::move(bytes));
    for (const auto& t : f.tensors) {
      if (t.end > f.data().size() || t.begin > t.end) std::abort();
      switch (t.type) {
        case beacon::io::dtype::f32: (void)f.read<float>(t.name); break;
        case beacon::io::dtype::f64: (void)f.read<double>(t.name); break;
        case beacon::io::dtype::i32: (void)f.read<std::int32_t>(t.name); break;
        case beacon::io::dtype::i64: (void)f.read<std::int64_t>(t.name); break;
      }
    }
  } catch (const beacon::error&) {
  }
  return 0;
}
