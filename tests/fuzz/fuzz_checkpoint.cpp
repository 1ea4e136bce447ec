// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: the adaptor checkpoint loader (io/adaptor_checkpoint.hpp), metadata included,
// for the two adaptor types `beacon edit-bench --save` writes (the seed corpus holds their files).
// A file must load or throw a beacon::error; the loader must never allocate far beyond the file;
// a file that loads gives the experts and parameter values it stores.
#include <beacon/backend/cpu.hpp>
#include <beacon/io/adaptor_checkpoint.hpp>
#include <beacon/moe.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_check.hpp"

namespace {
using kv_adaptor = beacon::moe::adaptor<float, beacon::moe::kv_anchor_router<beacon::moe::top_k<1>>, beacon::moe::mlp_expert<beacon::activation::relu>,
                                        beacon::cpu>;
using anchors_adaptor = beacon::moe::adaptor<float, beacon::moe::instance_anchor_router<beacon::moe::top_k<1>>,
                                             beacon::moe::mlp_expert<beacon::activation::relu>, beacon::cpu>;
/// What a successful load must hold: as many experts as the metadata says, and every parameter
/// the file stores by name equal to the file's values.
template <class Adaptor>
void check_loaded(const Adaptor& a, const beacon::io::safetensors_file& f) {
  FUZZ_CHECK(a.experts() == beacon::io::parse_count(f.metadata.at("experts"), 0, 1000000, "experts"));
  for (const auto* p : a.parameters()) {
    if (!f.has(p->name())) continue;  // version-1 files store keys and gate rows one tensor per row
    const auto held = beacon::download(a.get_backend(), beacon::vector_view<const float, beacon::host_space>(p->value_vector()));
    FUZZ_CHECK(held == f.read<float>(p->name()));
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(size);
  if (size > 0) std::memcpy(bytes.data(), data, size);
  try {
    const auto f = beacon::io::safetensors_file::parse(std::move(bytes));
    const beacon::cpu be{1};
    try {
      check_loaded(beacon::io::load_adaptor<kv_adaptor>(be, f, "fuzz.safetensors"), f);
    } catch (const beacon::error&) {
    }
    check_loaded(beacon::io::load_adaptor<anchors_adaptor>(be, f, "fuzz.safetensors"), f);
  } catch (const beacon::error&) {
  }
  return 0;
}
