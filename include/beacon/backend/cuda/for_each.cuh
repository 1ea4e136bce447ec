// SPDX-License-Identifier: Apache-2.0
#pragma once
// The generic map primitives on the CUDA backend (see backend/cpu/for_each.hpp): grid-stride
// kernels that call a BEACON_HD functor per index or per element, queued on the backend's stream.

#include "launch.cuh"

namespace beacon {

namespace detail {
template <class F>
__global__ void __launch_bounds__(block_threads) for_each_index_kernel(size_type n, F f) {
  for (size_type i = first_item(); i < n; i += item_step()) f(i);
}
template <class F>
__global__ void __launch_bounds__(block_threads) for_each_element_kernel(size_type rows, size_type cols, F f) {
  for (size_type r = first_row(); r < rows; r += row_step())
    for (size_type c = first_col(); c < cols; c += col_step()) f(r, c);
}
}  // namespace detail

/// f(i) for i in [0, n); `cost` is accepted for the CPU backend's signature and ignored.
template <class F>
void for_each_index(const cuda& be, size_type n, const F& f, size_type /*cost*/ = 1) {
  if (n < 0) detail::fail("for_each_index", "n", ">= 0", n);
  if (n == 0) return;
  detail::for_each_index_kernel<<<detail::grid_size(be, n, detail::block_threads), detail::block_threads, 0, be.stream()>>>(n, f);
  detail::check_launch("for_each_index");
}

/// f(r, c) for every (r, c) of a rows x cols grid (threads along c, so rows are read coalesced).
template <class F>
void for_each_element(const cuda& be, size_type rows, size_type cols, const F& f) {
  if (rows < 0) detail::fail("for_each_element", "rows", ">= 0", rows);
  if (cols < 0) detail::fail("for_each_element", "cols", ">= 0", cols);
  if (rows == 0 || cols == 0) return;
  const auto g = detail::matrix_grid(be, rows, cols);
  detail::for_each_element_kernel<<<g.grid, g.block, 0, be.stream()>>>(rows, cols, f);
  detail::check_launch("for_each_element");
}

}  // namespace beacon
