// SPDX-License-Identifier: Apache-2.0
#pragma once
// axpby-style elementwise transforms, with and without Philox noise.
//
// Noise element (i, j) of a rows x cols target is element i*cols + j of the philox_stream: the
// logical index, independent of the leading dimension, so the CPU and CUDA backends (and any
// tiling) draw the same variates for the same (seed, offset).

#include <algorithm>
#include <cmath>

#include "../../core/philox.hpp"
#include "../checks.hpp"
#include "cpu.hpp"

namespace beacon {

namespace detail {
/// Calls f(j, eps_j) for j in [0, count), eps_j = noise element first + j; one Philox block per
/// four consecutive elements.
template <class F>
void for_each_normal(const philox_stream& noise, std::uint64_t first, size_type count, F&& f) {
  float z[4];
  std::uint64_t cached = ~std::uint64_t{0};
  for (size_type j = 0; j < count; ++j) {
    const std::uint64_t p = noise.offset + first + static_cast<std::uint64_t>(j);
    if ((p >> 2) != cached) {
      cached = p >> 2;
      noise.normal4(cached, z);
    }
    f(j, z[p & 3u]);
  }
}
}  // namespace detail

/// out(i, j) = value.
template <class T>
void fill(const cpu& be, std::type_identity_t<T> value, matrix_view<T, host_space> out) {
#pragma omp parallel for num_threads(be.threads_for(out.size())) schedule(static)
  for (size_type i = 0; i < out.rows(); ++i) std::fill_n(out.row(i), out.cols(), value);
}

/// out = a * x + b * y (out may alias x or y).
template <class X, class Y, class T>
  requires same_element<X, T> && same_element<Y, T>
void axpby(const cpu& be, std::type_identity_t<T> a, matrix_view<X, host_space> x, std::type_identity_t<T> b,
           matrix_view<Y, host_space> y, matrix_view<T, host_space> out) {
  detail::require_same_shape("axpby", "y", x, y);
  detail::require_same_shape("axpby", "out", x, out);
#pragma omp parallel for num_threads(be.threads_for(x.size())) schedule(static)
  for (size_type i = 0; i < x.rows(); ++i)
    for (size_type j = 0; j < x.cols(); ++j) out(i, j) = a * x(i, j) + b * y(i, j);
}

/// out(i, j) = a[i] * x(i, j) + b[i] * eps(i*cols + j), eps standard normal from `noise`.
/// Per-row coefficients make per-token diffusion noising (and, with a = 1, b = 0, skipped rows)
/// one pass over memory. out may alias x.
template <class A, class X, class B, class T>
  requires same_element<A, T> && same_element<X, T> && same_element<B, T>
void row_axpby_noise(const cpu& be, vector_view<A, host_space> a, matrix_view<X, host_space> x,
                     vector_view<B, host_space> b, philox_stream noise, matrix_view<T, host_space> out) {
  detail::check_row_coefficients("row_axpby_noise", a, b, x, out);
  const size_type cols = x.cols();
#pragma omp parallel for num_threads(be.threads_for(x.size())) schedule(static)
  for (size_type i = 0; i < x.rows(); ++i)
    detail::for_each_normal(noise, static_cast<std::uint64_t>(i * cols), cols, [&](size_type j, float eps) {
      out(i, j) = a[i] * x(i, j) + b[i] * static_cast<T>(eps);
    });
}

/// out(i, j) = a[i] * x(i, j) + b[i] * y(i, j) + c[i] * eps(i*cols + j): one pass for a diffusion
/// reverse step (x0-hat, x_k and fresh noise) or a per-row select (c = 0). Rows with c[i] == 0 draw
/// no noise. out may alias x or y.
template <class A, class X, class B, class Y, class C, class T>
  requires same_element<A, T> && same_element<X, T> && same_element<B, T> && same_element<Y, T> && same_element<C, T>
void row_axpbypcz_noise(const cpu& be, vector_view<A, host_space> a, matrix_view<X, host_space> x,
                        vector_view<B, host_space> b, matrix_view<Y, host_space> y, vector_view<C, host_space> c,
                        philox_stream noise, matrix_view<T, host_space> out) {
  detail::check_row_coefficients("row_axpbypcz_noise", a, b, x, out);
  detail::require_extent("row_axpbypcz_noise", "c", "size (x.rows)", c.size(), x.rows());
  detail::require_same_shape("row_axpbypcz_noise", "y", x, y);
  const size_type cols = x.cols();
#pragma omp parallel for num_threads(be.threads_for(x.size())) schedule(static)
  for (size_type i = 0; i < x.rows(); ++i) {
    if (c[i] == T(0)) {
      for (size_type j = 0; j < cols; ++j) out(i, j) = a[i] * x(i, j) + b[i] * y(i, j);
      continue;
    }
    detail::for_each_normal(noise, static_cast<std::uint64_t>(i * cols), cols, [&](size_type j, float eps) {
      out(i, j) = a[i] * x(i, j) + b[i] * y(i, j) + c[i] * static_cast<T>(eps);
    });
  }
}

/// out[i] = sum_j x(i, j) * y(i, j), summed left to right (row norms with y = x).
template <class X, class Y, class T>
  requires same_element<X, T> && same_element<Y, T>
void row_dot(const cpu& be, matrix_view<X, host_space> x, matrix_view<Y, host_space> y, vector_view<T, host_space> out) {
  detail::require_same_shape("row_dot", "y", x, y);
  detail::require_extent("row_dot", "out", "size (x.rows)", out.size(), x.rows());
#pragma omp parallel for num_threads(be.threads_for(x.size())) schedule(static)
  for (size_type i = 0; i < x.rows(); ++i) {
    T acc = T(0);
    for (size_type j = 0; j < x.cols(); ++j) acc += x(i, j) * y(i, j);
    out[i] = acc;
  }
}

/// out(i, :) = x(i, :) / ||x(i, :)||; all-zero rows stay zero (cosine treats them as having no
/// direction). out may alias x.
template <class X, class T>
  requires same_element<X, T>
void normalize_rows(const cpu& be, matrix_view<X, host_space> x, matrix_view<T, host_space> out) {
  detail::require_same_shape("normalize_rows", "out", x, out);
#pragma omp parallel for num_threads(be.threads_for(x.size())) schedule(static)
  for (size_type i = 0; i < x.rows(); ++i) {
    T sq = T(0);
    for (size_type j = 0; j < x.cols(); ++j) sq += x(i, j) * x(i, j);
    const T inv = sq > T(0) ? T(1) / std::sqrt(sq) : T(0);
    for (size_type j = 0; j < x.cols(); ++j) out(i, j) = x(i, j) * inv;
  }
}

/// out(i, j) = eps(i*cols + j), standard normal.
template <class T>
void fill_normal(const cpu& be, philox_stream noise, matrix_view<T, host_space> out) {
  const size_type cols = out.cols();
#pragma omp parallel for num_threads(be.threads_for(out.size())) schedule(static)
  for (size_type i = 0; i < out.rows(); ++i)
    detail::for_each_normal(noise, static_cast<std::uint64_t>(i * cols), cols,
                            [&](size_type j, float eps) { out(i, j) = static_cast<T>(eps); });
}

/// out(i, j) = u(i*cols + j), uniform in (0, 1) (float: 23 random bits; double: 52).
template <class T>
void fill_uniform(const cpu& be, philox_stream noise, matrix_view<T, host_space> out) {
  const size_type cols = out.cols();
#pragma omp parallel for num_threads(be.threads_for(out.size())) schedule(static)
  for (size_type i = 0; i < out.rows(); ++i)
    for (size_type j = 0; j < cols; ++j) {
      const std::uint64_t k = static_cast<std::uint64_t>(i * cols + j);
      if constexpr (std::is_same_v<T, double>) out(i, j) = noise.uniform_double(k);
      else out(i, j) = static_cast<T>(noise.uniform(k));
    }
}

}  // namespace beacon
