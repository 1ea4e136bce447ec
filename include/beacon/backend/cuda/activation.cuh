// SPDX-License-Identifier: Apache-2.0
#pragma once
// Dense-layer elementwise primitives on the CUDA backend (bias + activation, its backward, the
// gated product and its backward, column sums): the CPU backend's contracts and messages
// (backend/cpu/activation.hpp), with core/activation.hpp's scalar functions compiled for the device.
// Elementwise results agree with the CPU to the device math library's rounding (expf, erff);
// column sums add rows in the CPU's order (one thread per column, no atomics).

#include "../../core/activation.hpp"
#include "../checks.hpp"
#include "launch.cuh"

namespace beacon {

namespace detail {

template <class Bias, class T>
__global__ void __launch_bounds__(block_threads)
    bias_activation_kernel(activation act, vector_view<Bias, device_space> bias, matrix_view<T, device_space> z,
                           matrix_view<T, device_space> a) {
  const bool has_bias = !bias.empty();
  for (size_type r = first_row(); r < z.rows(); r += row_step())
    for (size_type c = first_col(); c < z.cols(); c += col_step()) {
      const T v = has_bias ? z(r, c) + bias[c] : z(r, c);
      z(r, c) = v;
      a(r, c) = activate(act, v);
    }
}

template <class Z, class DY, class T>
__global__ void __launch_bounds__(block_threads)
    activation_backward_kernel(activation act, matrix_view<Z, device_space> z, matrix_view<DY, device_space> dy,
                               matrix_view<T, device_space> dz) {
  for (size_type r = first_row(); r < z.rows(); r += row_step())
    for (size_type c = first_col(); c < z.cols(); c += col_step()) dz(r, c) = dy(r, c) * activate_derivative(act, static_cast<T>(z(r, c)));
}

template <class A, class B, class T>
__global__ void __launch_bounds__(block_threads)
    gated_activation_kernel(activation act, matrix_view<A, device_space> a, matrix_view<B, device_space> b,
                            matrix_view<T, device_space> u) {
  for (size_type r = first_row(); r < a.rows(); r += row_step())
    for (size_type c = first_col(); c < a.cols(); c += col_step()) u(r, c) = activate(act, static_cast<T>(a(r, c))) * b(r, c);
}

template <class A, class B, class DU, class T>
__global__ void __launch_bounds__(block_threads)
    gated_activation_backward_kernel(activation act, matrix_view<A, device_space> a, matrix_view<B, device_space> b,
                                     matrix_view<DU, device_space> du, matrix_view<T, device_space> da, matrix_view<T, device_space> db) {
  for (size_type r = first_row(); r < a.rows(); r += row_step())
    for (size_type c = first_col(); c < a.cols(); c += col_step()) {
      const T z = a(r, c), g = du(r, c);
      da(r, c) = g * b(r, c) * activate_derivative(act, z);
      db(r, c) = g * activate(act, z);
    }
}

/// One thread per column (consecutive threads read consecutive columns of a row: coalesced).
template <class X, class T>
__global__ void __launch_bounds__(block_threads) add_column_sums_kernel(matrix_view<X, device_space> x, vector_view<T, device_space> out) {
  for (size_type c = first_item(); c < x.cols(); c += item_step()) {
    T acc = T(0);
    for (size_type r = 0; r < x.rows(); ++r) acc += x(r, c);
    out[c] += acc;
  }
}

}  // namespace detail

/// z(i, j) += bias[j] (skipped when bias is empty), then a(i, j) = act(z(i, j)); a may alias z.
template <class Bias, class T>
  requires same_element<Bias, T>
void bias_activation(const cuda& be, activation act, vector_view<Bias, device_space> bias, matrix_view<T, device_space> z,
                     matrix_view<T, device_space> a) {
  detail::check_bias_activation("bias_activation", bias, z, a);
  if (z.empty()) return;
  const auto g = detail::matrix_grid(be, z.rows(), z.cols());
  detail::bias_activation_kernel<<<g.grid, g.block, 0, be.stream()>>>(act, bias, z, a);
  detail::check_launch("bias_activation");
}

/// dz(i, j) = dy(i, j) * act'(z(i, j)); dz may alias dy.
template <class Z, class DY, class T>
  requires same_element<Z, T> && same_element<DY, T>
void activation_backward(const cuda& be, activation act, matrix_view<Z, device_space> z, matrix_view<DY, device_space> dy,
                         matrix_view<T, device_space> dz) {
  detail::require_same_shape("activation_backward", "dy", z, dy);
  detail::require_same_shape("activation_backward", "dz", z, dz);
  if (z.empty()) return;
  const auto g = detail::matrix_grid(be, z.rows(), z.cols());
  detail::activation_backward_kernel<<<g.grid, g.block, 0, be.stream()>>>(act, z, dy, dz);
  detail::check_launch("activation_backward");
}

/// u = act(a) * b elementwise; u may alias a or b.
template <class A, class B, class T>
  requires same_element<A, T> && same_element<B, T>
void gated_activation(const cuda& be, activation act, matrix_view<A, device_space> a, matrix_view<B, device_space> b,
                      matrix_view<T, device_space> u) {
  detail::require_same_shape("gated_activation", "b", a, b);
  detail::require_same_shape("gated_activation", "u", a, u);
  if (a.empty()) return;
  const auto g = detail::matrix_grid(be, a.rows(), a.cols());
  detail::gated_activation_kernel<<<g.grid, g.block, 0, be.stream()>>>(act, a, b, u);
  detail::check_launch("gated_activation");
}

/// Backward of u = act(a) * b: da = du * b * act'(a), db = du * act(a).
template <class A, class B, class DU, class T>
  requires same_element<A, T> && same_element<B, T> && same_element<DU, T>
void gated_activation_backward(const cuda& be, activation act, matrix_view<A, device_space> a, matrix_view<B, device_space> b,
                               matrix_view<DU, device_space> du, matrix_view<T, device_space> da, matrix_view<T, device_space> db) {
  detail::check_same_shapes("gated_activation_backward", "b", "du", "da", a, b, du, da);
  detail::require_same_shape("gated_activation_backward", "db", a, db);
  if (a.empty()) return;
  const auto g = detail::matrix_grid(be, a.rows(), a.cols());
  detail::gated_activation_backward_kernel<<<g.grid, g.block, 0, be.stream()>>>(act, a, b, du, da, db);
  detail::check_launch("gated_activation_backward");
}

/// out[j] += sum_i x(i, j), rows added in order from zero (the CPU backend's order).
template <class X, class T>
  requires same_element<X, T>
void add_column_sums(const cuda& be, matrix_view<X, device_space> x, vector_view<T, device_space> out) {
  detail::require_extent("add_column_sums", "out", "size (x.cols)", out.size(), x.cols());
  if (x.empty()) return;
  detail::add_column_sums_kernel<<<detail::grid_size(be, x.cols(), detail::block_threads), detail::block_threads, 0, be.stream()>>>(x, out);
  detail::check_launch("add_column_sums");
}

}  // namespace beacon
