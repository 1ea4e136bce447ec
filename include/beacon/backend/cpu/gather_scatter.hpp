// SPDX-License-Identifier: Apache-2.0
#pragma once
// Row gather and scatter by index: the permute / unpermute steps of expert dispatch.

#include <algorithm>
#include <vector>

#include "../checks.hpp"
#include "cpu.hpp"

namespace beacon {

namespace detail {
template <class I>
void check_indices_in_range(const char* fn, const vector_view<I, host_space>& index, size_type bound) {
  for (size_type i = 0; i < index.size(); ++i)
    if (index[i] < 0 || static_cast<size_type>(index[i]) >= bound)
      fail(fn, "index", concat("entries in [0, ", bound, ")"), concat(index[i], " at position ", i));
}
}  // namespace detail

/// dst(i, :) = src(index[i], :). Indices may repeat; out-of-range indices are a value_error.
template <class Src, class I, class T>
  requires same_element<Src, T> && same_element<I, index_type>
void gather_rows(const cpu& be, matrix_view<Src, host_space> src, vector_view<I, host_space> index,
                 matrix_view<T, host_space> dst) {
  detail::check_gather("gather_rows", src, index, dst);
  detail::check_indices_in_range("gather_rows", index, src.rows());
#pragma omp parallel for num_threads(be.threads_for(dst.size())) schedule(static)
  for (size_type i = 0; i < dst.rows(); ++i) std::copy_n(src.row(index[i]), dst.cols(), dst.row(i));
}

/// dst(index[i], :) = src(i, :). Indices must be distinct (a repeated target would make the result
/// depend on write order) and in range; rows of dst not named by index are left untouched.
template <class Src, class I, class T>
  requires same_element<Src, T> && same_element<I, index_type>
void scatter_rows(const cpu& be, matrix_view<Src, host_space> src, vector_view<I, host_space> index,
                  matrix_view<T, host_space> dst) {
  detail::check_scatter("scatter_rows", src, index, dst);
  detail::check_indices_in_range("scatter_rows", index, dst.rows());
  std::vector<bool> seen(static_cast<std::size_t>(dst.rows()), false);
  for (size_type i = 0; i < index.size(); ++i) {
    if (seen[static_cast<std::size_t>(index[i])])
      detail::fail("scatter_rows", "index", "distinct entries", detail::concat("a repeat of ", index[i], " at position ", i));
    seen[static_cast<std::size_t>(index[i])] = true;
  }
#pragma omp parallel for num_threads(be.threads_for(src.size())) schedule(static)
  for (size_type i = 0; i < src.rows(); ++i) std::copy_n(src.row(i), src.cols(), dst.row(index[i]));
}

}  // namespace beacon
