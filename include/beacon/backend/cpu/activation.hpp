// SPDX-License-Identifier: Apache-2.0
#pragma once
// Dense-layer elementwise primitives on the CPU backend: bias + activation (forward), the
// activation's backward, the gated (SwiGLU-style) product and its backward, and column sums (the
// bias gradient). The scalar math is core/activation.hpp's activate / activate_derivative, the very
// functions the Eigen experts apply, so these give the experts' bits.

#include <algorithm>

#include "../../core/activation.hpp"
#include "../checks.hpp"
#include "cpu.hpp"

namespace beacon {

/// z(i, j) += bias[j] (skipped when bias is empty), then a(i, j) = act(z(i, j)). z keeps the
/// pre-activation for the backward pass; a may alias z (inference).
template <class Bias, class T>
  requires same_element<Bias, T>
void bias_activation(const cpu& be, activation act, vector_view<Bias, host_space> bias, matrix_view<T, host_space> z,
                     matrix_view<T, host_space> a) {
  detail::check_bias_activation("bias_activation", bias, z, a);
  const bool has_bias = !bias.empty();
#pragma omp parallel for num_threads(be.threads_for(z.size())) schedule(static)
  for (size_type i = 0; i < z.rows(); ++i)
    for (size_type j = 0; j < z.cols(); ++j) {
      const T v = has_bias ? z(i, j) + bias[j] : z(i, j);
      z(i, j) = v;
      a(i, j) = activate(act, v);
    }
}

/// dz(i, j) = dy(i, j) * act'(z(i, j)); dz may alias dy.
template <class Z, class DY, class T>
  requires same_element<Z, T> && same_element<DY, T>
void activation_backward(const cpu& be, activation act, matrix_view<Z, host_space> z, matrix_view<DY, host_space> dy,
                         matrix_view<T, host_space> dz) {
  detail::require_same_shape("activation_backward", "dy", z, dy);
  detail::require_same_shape("activation_backward", "dz", z, dz);
#pragma omp parallel for num_threads(be.threads_for(z.size())) schedule(static)
  for (size_type i = 0; i < z.rows(); ++i)
    for (size_type j = 0; j < z.cols(); ++j) dz(i, j) = dy(i, j) * activate_derivative(act, z(i, j));
}

/// u = act(a) * b elementwise (SwiGLU's hidden state with act = SiLU). u may alias a or b.
template <class A, class B, class T>
  requires same_element<A, T> && same_element<B, T>
void gated_activation(const cpu& be, activation act, matrix_view<A, host_space> a, matrix_view<B, host_space> b,
                      matrix_view<T, host_space> u) {
  detail::require_same_shape("gated_activation", "b", a, b);
  detail::require_same_shape("gated_activation", "u", a, u);
#pragma omp parallel for num_threads(be.threads_for(a.size())) schedule(static)
  for (size_type i = 0; i < a.rows(); ++i)
    for (size_type j = 0; j < a.cols(); ++j) u(i, j) = activate(act, a(i, j)) * b(i, j);
}

/// Backward of u = act(a) * b: da = du * b * act'(a), db = du * act(a). Outputs must not alias inputs.
template <class A, class B, class DU, class T>
  requires same_element<A, T> && same_element<B, T> && same_element<DU, T>
void gated_activation_backward(const cpu& be, activation act, matrix_view<A, host_space> a, matrix_view<B, host_space> b,
                               matrix_view<DU, host_space> du, matrix_view<T, host_space> da, matrix_view<T, host_space> db) {
  detail::check_same_shapes("gated_activation_backward", "b", "du", "da", a, b, du, da);
  detail::require_same_shape("gated_activation_backward", "db", a, db);
#pragma omp parallel for num_threads(be.threads_for(a.size())) schedule(static)
  for (size_type i = 0; i < a.rows(); ++i)
    for (size_type j = 0; j < a.cols(); ++j) {
      const T z = a(i, j), g = du(i, j);
      da(i, j) = g * b(i, j) * activate_derivative(act, z);
      db(i, j) = g * activate(act, z);
    }
}

/// out[j] += sum_i x(i, j), each column summed in row order from zero, then added (a bias
/// gradient: db += dy.colwise().sum()). Deterministic for any thread count.
template <class X, class T>
  requires same_element<X, T>
void add_column_sums(const cpu& be, matrix_view<X, host_space> x, vector_view<T, host_space> out) {
  detail::require_extent("add_column_sums", "out", "size (x.cols)", out.size(), x.cols());
  const size_type cols = x.cols();
  // Column blocks per thread; inside a block rows stream in order (unit-stride reads).
  constexpr size_type block = 256;
  const size_type blocks = (cols + block - 1) / block;
#pragma omp parallel for num_threads(be.threads_for(x.size())) schedule(static)
  for (size_type b = 0; b < blocks; ++b) {
    const size_type lo = b * block, hi = std::min(cols, lo + block);
    T acc[block] = {};
    for (size_type i = 0; i < x.rows(); ++i) {
      const auto* row = x.row(i);
      for (size_type j = lo; j < hi; ++j) acc[j - lo] += row[j];
    }
    for (size_type j = lo; j < hi; ++j) out[j] += acc[j - lo];
  }
}

}  // namespace beacon
