// SPDX-License-Identifier: Apache-2.0
#pragma once
// Row gather and scatter by index on the CUDA backend: the permute / unpermute steps of expert
// dispatch.
//
// Shapes are checked on the host with the CPU backend's messages. Index values are device data,
// and checking them would cost a copy and a synchronisation, so they are not checked: an
// out-of-range index is skipped (its row is neither read nor written, never an out-of-bounds
// access), and repeated scatter targets are written in an unspecified order. Validate indices on
// the host (or with the CPU backend) when they come from untrusted input.

#include "../checks.hpp"
#include "launch.cuh"

namespace beacon {

namespace detail {

template <class Src, class I, class T>
__global__ void __launch_bounds__(block_threads)
    gather_rows_kernel(matrix_view<Src, device_space> src, vector_view<I, device_space> index, matrix_view<T, device_space> dst) {
  for (size_type r = first_row(); r < dst.rows(); r += row_step()) {
    const auto from = static_cast<size_type>(index[r]);
    if (from < 0 || from >= src.rows()) continue;
    for (size_type c = first_col(); c < dst.cols(); c += col_step()) dst(r, c) = src(from, c);
  }
}

template <class Src, class I, class T>
__global__ void __launch_bounds__(block_threads)
    scatter_rows_kernel(matrix_view<Src, device_space> src, vector_view<I, device_space> index, matrix_view<T, device_space> dst) {
  for (size_type r = first_row(); r < src.rows(); r += row_step()) {
    const auto to = static_cast<size_type>(index[r]);
    if (to < 0 || to >= dst.rows()) continue;
    for (size_type c = first_col(); c < src.cols(); c += col_step()) dst(to, c) = src(r, c);
  }
}

}  // namespace detail

/// dst(i, :) = src(index[i], :). Indices may repeat; they are not range-checked on the device
/// (an out-of-range entry leaves its dst row untouched).
template <class Src, class I, class T>
  requires same_element<Src, T> && same_element<I, index_type>
void gather_rows(const cuda& be, matrix_view<Src, device_space> src, vector_view<I, device_space> index,
                 matrix_view<T, device_space> dst) {
  detail::check_gather("gather_rows", src, index, dst);
  if (dst.empty()) return;
  const auto g = detail::matrix_grid(be, dst.rows(), dst.cols());
  detail::gather_rows_kernel<<<g.grid, g.block, 0, be.stream()>>>(src, index, dst);
  detail::check_launch("gather_rows");
}

/// dst(index[i], :) = src(i, :); rows of dst not named by index are left untouched. Indices must be
/// distinct and in range; neither is checked on the device (see the file comment).
template <class Src, class I, class T>
  requires same_element<Src, T> && same_element<I, index_type>
void scatter_rows(const cuda& be, matrix_view<Src, device_space> src, vector_view<I, device_space> index,
                  matrix_view<T, device_space> dst) {
  detail::check_scatter("scatter_rows", src, index, dst);
  if (src.empty()) return;
  const auto g = detail::matrix_grid(be, src.rows(), src.cols());
  detail::scatter_rows_kernel<<<g.grid, g.block, 0, be.stream()>>>(src, index, dst);
  detail::check_launch("scatter_rows");
}

}  // namespace beacon
