// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test support: rewrite a saved checkpoint with changed metadata and/or one tensor's I32 values,
// keeping the file otherwise valid (the checksum is recomputed only when asked), to reach the
// loader's and `beacon inspect`'s checks behind the safetensors layer.
#include <beacon/io/safetensors.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace beacon_test {

inline void rewrite_checkpoint(const std::string& path, const std::map<std::string, std::string>& metadata_changes,
                               const std::map<std::string, std::vector<std::int32_t>>& i32_tensors = {}, bool recompute_checksum = false) {
  const auto f = beacon::io::read_safetensors(path);
  auto meta = f.metadata;
  for (const auto& [k, v] : metadata_changes) meta[k] = v;
  std::vector<std::vector<float>> f32;
  f32.reserve(f.tensors.size());
  std::vector<beacon::io::tensor_view_bytes> tensors;
  for (const auto& t : f.tensors) {
    if (const auto it = i32_tensors.find(t.name); it != i32_tensors.end()) {
      tensors.push_back(beacon::io::tensor_bytes(t.name, t.shape, it->second));
      continue;
    }
    f32.push_back(f.read<float>(t.name));
    tensors.push_back(beacon::io::tensor_bytes(t.name, t.shape, f32.back()));
  }
  if (recompute_checksum) {
    std::vector<std::byte> data;
    for (const auto& t : tensors) data.insert(data.end(), t.bytes.begin(), t.bytes.end());
    meta["checksum"] = beacon::io::fnv1a64(data);
  }
  beacon::io::write_file_atomic(path, beacon::io::serialize_safetensors(meta, tensors));
}

}  // namespace beacon_test
