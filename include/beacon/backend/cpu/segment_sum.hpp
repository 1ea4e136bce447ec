// SPDX-License-Identifier: Apache-2.0
#pragma once
// Segmented row sums and the deterministic full sum.

#include <vector>

#include "../../core/reduce.hpp"
#include "../checks.hpp"
#include "cpu.hpp"

namespace beacon {

/// dst(s, :) = sum of src rows offsets[s] .. offsets[s+1]-1, added in row order (deterministic);
/// an empty segment gives a zero row. offsets must start at 0, end at src.rows() and not decrease.
template <class Src, class O, class T>
  requires same_element<Src, T> && same_element<O, index_type>
void segment_sum_rows(const cpu& be, matrix_view<Src, host_space> src, vector_view<O, host_space> offsets,
                      matrix_view<T, host_space> dst) {
  detail::check_segment_sum("segment_sum_rows", src, offsets, dst);
  if (offsets[0] != 0) detail::fail("segment_sum_rows", "offsets[0]", "0", offsets[0]);
  if (offsets[offsets.size() - 1] != src.rows())
    detail::fail("segment_sum_rows", "offsets[last]", detail::concat("src.rows (", src.rows(), ")"), offsets[offsets.size() - 1]);
  for (size_type s = 0; s + 1 < offsets.size(); ++s)
    if (offsets[s + 1] < offsets[s])
      detail::fail("segment_sum_rows", "offsets", "non-decreasing entries",
                   detail::concat(offsets[s + 1], " after ", offsets[s], " at position ", s + 1));
#pragma omp parallel for num_threads(be.threads_for(src.size())) schedule(static)
  for (size_type s = 0; s < dst.rows(); ++s) {
    T* o = dst.row(s);
    for (size_type j = 0; j < dst.cols(); ++j) o[j] = T(0);
    for (size_type r = offsets[s]; r < offsets[s + 1]; ++r) {
      const auto* x = src.row(r);
      for (size_type j = 0; j < dst.cols(); ++j) o[j] += x[j];
    }
  }
}

/// out[0] = sum of x by the blocked pairwise order of core/reduce.hpp: the same bits for any
/// thread count, and the same as the CUDA backend's sum.
template <class In, class T>
  requires same_element<In, T>
void sum(const cpu& be, vector_view<In, host_space> x, vector_view<T, host_space> out) {
  detail::require_extent("sum", "out", "size", out.size(), 1);
  const size_type n = x.size();
  const size_type blocks = reduce_block_count(n);
  std::vector<T> partial(static_cast<std::size_t>(blocks));
#pragma omp parallel for num_threads(be.threads_for(n)) schedule(static)
  for (size_type b = 0; b < blocks; ++b) {
    const size_type lo = b * reduce_block;
    const size_type len = std::min(reduce_block, n - lo);
    partial[static_cast<std::size_t>(b)] = pairwise_sum<T>(len, [&](size_type i) { return static_cast<T>(x[lo + i]); });
  }
  out[0] = pairwise_sum<T>(partial.data(), blocks);
}

}  // namespace beacon
