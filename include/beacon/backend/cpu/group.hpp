// SPDX-License-Identifier: Apache-2.0
#pragma once
// Grouping rows by an integer key (expert id, cluster label): counts -> offsets -> a stable
// permutation, so each group's rows can be gathered contiguously and reduced in a fixed order.

#include <vector>

#include "../checks.hpp"
#include "cpu.hpp"

namespace beacon {

/// offsets[g] .. offsets[g+1]-1 index `permutation` entries of the rows with key g, in increasing
/// row order (stable). keys must lie in [0, groups); offsets has groups + 1 entries.
template <class K>
  requires same_element<K, index_type>
void group_rows_by_key(const cpu& /*be*/, vector_view<K, host_space> keys, size_type groups,
                       vector_view<index_type, host_space> offsets, vector_view<index_type, host_space> permutation) {
  detail::check_group_rows("group_rows_by_key", keys, groups, offsets, permutation);
  std::vector<index_type> cursor(static_cast<std::size_t>(groups) + 1, 0);
  for (size_type i = 0; i < keys.size(); ++i) {
    if (keys[i] < 0 || keys[i] >= groups)
      detail::fail("group_rows_by_key", "keys", detail::concat("values in [0, ", groups, ")"),
                   detail::concat(keys[i], " at position ", i));
    ++cursor[static_cast<std::size_t>(keys[i]) + 1];
  }
  for (size_type g = 0; g < groups; ++g) cursor[static_cast<std::size_t>(g) + 1] += cursor[static_cast<std::size_t>(g)];
  for (size_type g = 0; g <= groups; ++g) offsets[g] = cursor[static_cast<std::size_t>(g)];
  for (size_type i = 0; i < keys.size(); ++i) permutation[cursor[static_cast<std::size_t>(keys[i])]++] = static_cast<index_type>(i);
}

/// dst = src between host buffers (the CPU backend's side of the upload/download pair).
template <class S, class T>
  requires same_element<S, T>
void copy(const cpu& /*be*/, vector_view<S, host_space> src, vector_view<T, host_space> dst) {
  detail::require_extent("copy", "dst", "size (src.size)", dst.size(), src.size());
  std::copy(src.begin(), src.end(), dst.begin());
}

}  // namespace beacon
