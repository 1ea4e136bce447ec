// SPDX-License-Identifier: Apache-2.0
#pragma once
// axpby-style elementwise transforms, with and without Philox noise, on the CUDA backend.
//
// Noise element (i, j) of a rows x cols target is element i*cols + j of the philox_stream, exactly
// as on the CPU backend, and core/philox.hpp computes it with IEEE-exact operations on both sides:
// fill_normal and fill_uniform give the CPU's bits. Noisy kernels give one thread each Philox block
// (four consecutive stream positions), so each block's Box-Muller pairs are computed once.
// The arithmetic around the noise (a * x + b * eps) may be contracted to FMA by nvcc, so those
// results agree with the CPU to rounding, not to the bit.

#include <cstdint>
#include <type_traits>

#include "../../core/philox.hpp"
#include "../checks.hpp"
#include "launch.cuh"

namespace beacon {

namespace detail {

template <class T>
__global__ void __launch_bounds__(block_threads) fill_kernel(T value, matrix_view<T, device_space> out) {
  for (size_type r = first_row(); r < out.rows(); r += row_step())
    for (size_type c = first_col(); c < out.cols(); c += col_step()) out(r, c) = value;
}

template <class X, class Y, class T>
__global__ void __launch_bounds__(block_threads)
    axpby_kernel(T a, matrix_view<X, device_space> x, T b, matrix_view<Y, device_space> y, matrix_view<T, device_space> out) {
  for (size_type r = first_row(); r < x.rows(); r += row_step())
    for (size_type c = first_col(); c < x.cols(); c += col_step()) out(r, c) = a * x(r, c) + b * y(r, c);
}

/// For every element (r, c) of a rows x cols target: op(r, c, eps) with eps = noise element
/// r*cols + c where op.wants_noise(r), else op(r, c). One thread per Philox block touched.
template <class Op>
__global__ void __launch_bounds__(block_threads)
    noise_blocks_kernel(philox_stream noise, size_type rows, size_type cols, Op op) {
  const size_type total = rows * cols;
  const std::uint64_t first_block = noise.offset >> 2;
  const std::uint64_t blocks = ((noise.offset + static_cast<std::uint64_t>(total) - 1) >> 2) - first_block + 1;
  for (std::uint64_t t = static_cast<std::uint64_t>(first_item()); t < blocks; t += static_cast<std::uint64_t>(item_step())) {
    const std::uint64_t block = first_block + t;
    // Logical element of lane 0 (negative for the lanes before the stream offset).
    const size_type e0 = static_cast<size_type>(4 * block + 3 - noise.offset) - 3;
    const size_type start = e0 < 0 ? 0 : e0;
    size_type r = start / cols;
    size_type c = start - r * cols;
    float z[4];
    bool drawn = false;
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const size_type e = e0 + lane;
      if (e < 0 || e >= total) continue;
      if (op.wants_noise(r)) {
        if (!drawn) {
          noise.normal4(block, z);
          drawn = true;
        }
        op(r, c, z[lane]);
      } else {
        op(r, c);
      }
      if (++c == cols) {
        c = 0;
        ++r;
      }
    }
  }
}

template <class Op>
void launch_noise_blocks(const cuda& be, const char* fn, philox_stream noise, size_type rows, size_type cols, Op op) {
  if (rows == 0 || cols == 0) return;
  const auto total = static_cast<std::uint64_t>(rows * cols);
  const std::uint64_t blocks = ((noise.offset + total - 1) >> 2) - (noise.offset >> 2) + 1;
  noise_blocks_kernel<<<grid_size(be, static_cast<size_type>(blocks), block_threads), block_threads, 0, be.stream()>>>(noise, rows, cols, op);
  check_launch(fn);
}

template <class T>
struct normal_op {
  matrix_view<T, device_space> out;
  __device__ bool wants_noise(size_type) const { return true; }
  __device__ void operator()(size_type r, size_type c, float eps) const { out(r, c) = static_cast<T>(eps); }
  __device__ void operator()(size_type, size_type) const {}
};

template <class A, class X, class B, class T>
struct axpby_noise_op {
  vector_view<A, device_space> a;
  matrix_view<X, device_space> x;
  vector_view<B, device_space> b;
  matrix_view<T, device_space> out;
  __device__ bool wants_noise(size_type) const { return true; }
  __device__ void operator()(size_type r, size_type c, float eps) const { out(r, c) = a[r] * x(r, c) + b[r] * static_cast<T>(eps); }
  __device__ void operator()(size_type, size_type) const {}
};

template <class A, class X, class B, class Y, class C, class T>
struct axpbypcz_noise_op {
  vector_view<A, device_space> a;
  matrix_view<X, device_space> x;
  vector_view<B, device_space> b;
  matrix_view<Y, device_space> y;
  vector_view<C, device_space> c;
  matrix_view<T, device_space> out;
  // Rows with c == 0 draw no noise (a per-row select costs no Philox work).
  __device__ bool wants_noise(size_type r) const { return c[r] != T(0); }
  __device__ void operator()(size_type r, size_type j, float eps) const {
    out(r, j) = a[r] * x(r, j) + b[r] * y(r, j) + c[r] * static_cast<T>(eps);
  }
  __device__ void operator()(size_type r, size_type j) const { out(r, j) = a[r] * x(r, j) + b[r] * y(r, j); }
};

template <class T>
__global__ void __launch_bounds__(block_threads) fill_uniform_kernel(philox_stream noise, matrix_view<T, device_space> out) {
  const size_type cols = out.cols();
  for (size_type r = first_row(); r < out.rows(); r += row_step())
    for (size_type c = first_col(); c < cols; c += col_step()) {
      const auto k = static_cast<std::uint64_t>(r * cols + c);
      if constexpr (std::is_same_v<T, double>) out(r, c) = noise.uniform_double(k);
      else out(r, c) = static_cast<T>(noise.uniform(k));
    }
}

template <class X, class Y, class T>
__global__ void __launch_bounds__(block_threads)
    row_dot_kernel(matrix_view<X, device_space> x, matrix_view<Y, device_space> y, vector_view<T, device_space> out, int lanes) {
  const row_group g = make_row_group(lanes);
  for (size_type base = g.first; base < x.rows(); base += g.step) {
    const size_type r = base + g.group;
    const bool valid = r < x.rows();
    T acc = T(0);
    if (valid)
      for (size_type j = g.sub; j < x.cols(); j += lanes) acc += x(r, j) * y(r, j);
    acc = group_sum(acc, lanes);
    if (valid && g.sub == 0) out[r] = acc;
  }
}

template <class X, class T>
__global__ void __launch_bounds__(block_threads)
    normalize_rows_kernel(matrix_view<X, device_space> x, matrix_view<T, device_space> out, int lanes) {
  const row_group g = make_row_group(lanes);
  for (size_type base = g.first; base < x.rows(); base += g.step) {
    const size_type r = base + g.group;
    const bool valid = r < x.rows();
    T sq = T(0);
    if (valid)
      for (size_type j = g.sub; j < x.cols(); j += lanes) sq += x(r, j) * x(r, j);
    sq = group_sum(sq, lanes);
    const T inv = sq > T(0) ? T(1) / device_sqrt(sq) : T(0);
    // Each lane reads its columns of x before writing them, so out may alias x.
    if (valid)
      for (size_type j = g.sub; j < x.cols(); j += lanes) out(r, j) = x(r, j) * inv;
  }
}

}  // namespace detail

/// out(i, j) = value.
template <class T>
void fill(const cuda& be, std::type_identity_t<T> value, matrix_view<T, device_space> out) {
  if (out.empty()) return;
  const auto g = detail::matrix_grid(be, out.rows(), out.cols());
  detail::fill_kernel<<<g.grid, g.block, 0, be.stream()>>>(static_cast<T>(value), out);
  detail::check_launch("fill");
}

/// out = a * x + b * y (out may alias x or y).
template <class X, class Y, class T>
  requires same_element<X, T> && same_element<Y, T>
void axpby(const cuda& be, std::type_identity_t<T> a, matrix_view<X, device_space> x, std::type_identity_t<T> b,
           matrix_view<Y, device_space> y, matrix_view<T, device_space> out) {
  detail::require_same_shape("axpby", "y", x, y);
  detail::require_same_shape("axpby", "out", x, out);
  if (x.empty()) return;
  const auto g = detail::matrix_grid(be, x.rows(), x.cols());
  detail::axpby_kernel<<<g.grid, g.block, 0, be.stream()>>>(static_cast<T>(a), x, static_cast<T>(b), y, out);
  detail::check_launch("axpby");
}

/// out(i, j) = a[i] * x(i, j) + b[i] * eps(i*cols + j), eps standard normal from `noise` (the same
/// variates as the CPU backend). out may alias x.
template <class A, class X, class B, class T>
  requires same_element<A, T> && same_element<X, T> && same_element<B, T>
void row_axpby_noise(const cuda& be, vector_view<A, device_space> a, matrix_view<X, device_space> x,
                     vector_view<B, device_space> b, philox_stream noise, matrix_view<T, device_space> out) {
  detail::check_row_coefficients("row_axpby_noise", a, b, x, out);
  detail::launch_noise_blocks(be, "row_axpby_noise", noise, x.rows(), x.cols(), detail::axpby_noise_op<A, X, B, T>{a, x, b, out});
}

/// out(i, j) = a[i] * x(i, j) + b[i] * y(i, j) + c[i] * eps(i*cols + j); rows with c[i] == 0 draw
/// no noise. out may alias x or y.
template <class A, class X, class B, class Y, class C, class T>
  requires same_element<A, T> && same_element<X, T> && same_element<B, T> && same_element<Y, T> && same_element<C, T>
void row_axpbypcz_noise(const cuda& be, vector_view<A, device_space> a, matrix_view<X, device_space> x,
                        vector_view<B, device_space> b, matrix_view<Y, device_space> y, vector_view<C, device_space> c,
                        philox_stream noise, matrix_view<T, device_space> out) {
  detail::check_row_coefficients("row_axpbypcz_noise", a, b, x, out);
  detail::require_extent("row_axpbypcz_noise", "c", "size (x.rows)", c.size(), x.rows());
  detail::require_same_shape("row_axpbypcz_noise", "y", x, y);
  detail::launch_noise_blocks(be, "row_axpbypcz_noise", noise, x.rows(), x.cols(),
                              detail::axpbypcz_noise_op<A, X, B, Y, C, T>{a, x, b, y, c, out});
}

/// out[i] = sum_j x(i, j) * y(i, j) (a lane-group tree per row: deterministic, but not the CPU's
/// left-to-right order, so it agrees with the CPU to rounding).
template <class X, class Y, class T>
  requires same_element<X, T> && same_element<Y, T>
void row_dot(const cuda& be, matrix_view<X, device_space> x, matrix_view<Y, device_space> y, vector_view<T, device_space> out) {
  detail::require_same_shape("row_dot", "y", x, y);
  detail::require_extent("row_dot", "out", "size (x.rows)", out.size(), x.rows());
  if (x.rows() == 0) return;
  const int lanes = detail::lanes_per_row(x.cols());
  detail::row_dot_kernel<<<detail::row_group_grid(be, x.rows(), lanes), detail::block_threads, 0, be.stream()>>>(x, y, out, lanes);
  detail::check_launch("row_dot");
}

/// out(i, :) = x(i, :) / ||x(i, :)||; all-zero rows stay zero. out may alias x.
template <class X, class T>
  requires same_element<X, T>
void normalize_rows(const cuda& be, matrix_view<X, device_space> x, matrix_view<T, device_space> out) {
  detail::require_same_shape("normalize_rows", "out", x, out);
  if (x.empty()) return;
  const int lanes = detail::lanes_per_row(x.cols());
  detail::normalize_rows_kernel<<<detail::row_group_grid(be, x.rows(), lanes), detail::block_threads, 0, be.stream()>>>(x, out, lanes);
  detail::check_launch("normalize_rows");
}

/// out(i, j) = eps(i*cols + j), standard normal: bit-identical to the CPU backend.
template <class T>
void fill_normal(const cuda& be, philox_stream noise, matrix_view<T, device_space> out) {
  detail::launch_noise_blocks(be, "fill_normal", noise, out.rows(), out.cols(), detail::normal_op<T>{out});
}

/// out(i, j) = u(i*cols + j), uniform in (0, 1) (float: 23 random bits; double: 52): bit-identical
/// to the CPU backend.
template <class T>
void fill_uniform(const cuda& be, philox_stream noise, matrix_view<T, device_space> out) {
  if (out.empty()) return;
  const auto g = detail::matrix_grid(be, out.rows(), out.cols());
  detail::fill_uniform_kernel<<<g.grid, g.block, 0, be.stream()>>>(noise, out);
  detail::check_launch("fill_uniform");
}

}  // namespace beacon
