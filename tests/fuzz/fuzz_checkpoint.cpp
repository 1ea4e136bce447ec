// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: the adaptor checkpoint loader (io/adaptor_checkpoint.hpp), metadata included,
// for the two adaptor types `beacon edit-bench --save` writes (the seed corpus holds their files).
// A file must load or throw a beacon::error; the loader must never allocate far beyond the file.
#include <beacon/backend/cpu.hpp>
#include <beacon/io/adaptor_checkpoint.hpp>
#include <beacon/moe.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {
using kv_adaptor = beacon::moe::adaptor<float, beacon::moe::kv_anchor_router<beacon::moe::top_k<1>>, beacon::moe::mlp_expert<beacon::activation::relu>,
                                        beacon::cpu>;
using anchors_adaptor = beacon::moe::adaptor<float, beacon::moe::instance_anchor_router<beacon::moe::top_k<1>>,
                                             beacon::moe::mlp_expert<beacon::activation::relu>, beacon::cpu>;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(size);
  if (size > 0) std::memcpy(bytes.data(), data, size);
  try {
    const auto f = beacon::io::safetensors_file::parse(std::move(bytes));
    const beacon::cpu be{1};
    try {
      (void)beacon::io::load_adaptor<kv_adaptor>(be, f, "fuzz.safetensors");
    } catch (const beacon::error&) {
    }
    (void)beacon::io::load_adaptor<anchors_adaptor>(be, f, "fuzz.safetensors");
  } catch (const beacon::error&) {
  }
  return 0;
}
