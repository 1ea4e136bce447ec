// SPDX-License-Identifier: Apache-2.0
#pragma once
// Grouping rows by an integer key (expert id, cluster label) on the CUDA backend: a stable CUB radix
// sort of (key, row) pairs gives the permutation, and a binary search per group in the sorted keys
// gives the offsets. Stability makes the result identical to the CPU backend's counting sort.

#include <cub/device/device_radix_sort.cuh>

#include "../checks.hpp"
#include "launch.cuh"

namespace beacon {

namespace detail {

// Kernels are templates so that a header-only library may define them in every translation unit.
template <class I>
__global__ void __launch_bounds__(block_threads) iota_kernel(I* out, size_type n) {
  for (size_type i = first_item(); i < n; i += item_step()) out[i] = static_cast<I>(i);
}

/// offsets[g] = number of sorted keys < g, for g in [0, groups].
template <class I>
__global__ void __launch_bounds__(block_threads)
    group_offsets_kernel(const I* sorted, size_type n, vector_view<I, device_space> offsets) {
  for (size_type g = first_item(); g < offsets.size(); g += item_step()) {
    size_type lo = 0, hi = n;
    while (lo < hi) {
      const size_type mid = lo + (hi - lo) / 2;
      if (static_cast<size_type>(sorted[mid]) < g) lo = mid + 1;
      else hi = mid;
    }
    offsets[g] = static_cast<I>(lo);
  }
}

}  // namespace detail

/// offsets[g] .. offsets[g+1]-1 index `permutation` entries of the rows with key g, in increasing
/// row order (stable). keys must lie in [0, groups): the CPU backend checks that; keys are device
/// data here, so they are not checked (an out-of-range key gives unspecified offsets and
/// permutation, never an out-of-bounds access). Temporaries come from the primitive scratch.
template <class K>
  requires same_element<K, index_type>
void group_rows_by_key(const cuda& be, vector_view<K, device_space> keys, size_type groups,
                       vector_view<index_type, device_space> offsets, vector_view<index_type, device_space> permutation) {
  detail::check_group_rows("group_rows_by_key", keys, groups, offsets, permutation);
  const size_type n = keys.size();
  if (n == 0) {
    BEACON_CUDA_CHECK(cudaMemsetAsync(offsets.data(), 0, sizeof(index_type) * static_cast<std::size_t>(offsets.size()), be.stream()));
    return;
  }
  int end_bit = 1;  // sort only the bits a key in [0, groups) can have
  while (end_bit < 31 && (size_type{1} << end_bit) < groups) ++end_bit;
  std::size_t temp_bytes = 0;
  BEACON_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, static_cast<const index_type*>(nullptr),
                                                    static_cast<index_type*>(nullptr), static_cast<const index_type*>(nullptr),
                                                    static_cast<index_type*>(nullptr), n, 0, end_bit, be.stream()));
  temp_bytes = temp_bytes > 0 ? temp_bytes : 1;  // a null temp pointer would mean "query" to CUB
  workspace_arena<device_space> arena = be.primitive_scratch(
      workspace_layout().add<index_type>(n).add<index_type>(n).add<std::byte>(static_cast<size_type>(temp_bytes)).bytes());
  index_type* sorted_keys = arena.take<index_type>(n).data();
  index_type* rows = arena.take<index_type>(n).data();
  std::byte* temp = arena.take<std::byte>(static_cast<size_type>(temp_bytes)).data();
  detail::iota_kernel<<<detail::grid_size(be, n, detail::block_threads), detail::block_threads, 0, be.stream()>>>(rows, n);
  detail::check_launch("group_rows_by_key");
  const index_type* keys_in = keys.data();
  BEACON_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, sorted_keys, rows, permutation.data(), n, 0, end_bit,
                                                    be.stream()));
  detail::group_offsets_kernel<<<detail::grid_size(be, offsets.size(), detail::block_threads), detail::block_threads, 0,
                                 be.stream()>>>(sorted_keys, n, offsets);
  detail::check_launch("group_rows_by_key");
}

}  // namespace beacon
