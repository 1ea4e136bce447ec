// SPDX-License-Identifier: Apache-2.0
#pragma once
// Layer normalisation of rows and its backward pass, for the host models of `beacon edit-bench`,
// written once over backend primitives (for_each_index, add_column_sums) so it runs on any backend:
//
//   y = (x - mean) * rstd * gamma + beta,   rstd = 1 / sqrt(var + eps)   (per row; biased variance)
//
// The backward with g = dy * gamma and xhat = (x - mean) * rstd (n = columns):
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dgamma += sum_rows(dy * xhat),  dbeta += sum_rows(dy)

#include <cmath>

#include <beacon/backend/contract.hpp>

namespace beacon::hosts {
namespace kernels {

template <class T, class S>
struct layer_norm_rows {
  matrix_view<const T, S> x;
  vector_view<const T, S> gamma, beta;
  T eps;
  matrix_view<T, S> y;
  vector_view<T, S> mean, rstd;
  BEACON_HD void operator()(size_type r) const {
    const size_type n = x.cols();
    T m = 0;
    for (size_type j = 0; j < n; ++j) m += x(r, j);
    m /= static_cast<T>(n);
    T v = 0;
    for (size_type j = 0; j < n; ++j) v += (x(r, j) - m) * (x(r, j) - m);
    const T s = T(1) / std::sqrt(v / static_cast<T>(n) + eps);
    for (size_type j = 0; j < n; ++j) y(r, j) = (x(r, j) - m) * s * gamma[j] + beta[j];
    mean[r] = m;
    rstd[r] = s;
  }
};

template <class T, class S>
struct layer_norm_backward_rows {
  matrix_view<const T, S> x, dy;
  vector_view<const T, S> gamma, mean, rstd;
  matrix_view<T, S> dx, dy_xhat;  // dy_xhat: dy * xhat (summed over rows into dgamma); may be empty
  BEACON_HD void operator()(size_type r) const {
    const size_type n = x.cols();
    const T m = mean[r], s = rstd[r];
    T mg = 0, mgx = 0;
    for (size_type j = 0; j < n; ++j) {
      const T g = dy(r, j) * gamma[j], xh = (x(r, j) - m) * s;
      mg += g;
      mgx += g * xh;
    }
    mg /= static_cast<T>(n);
    mgx /= static_cast<T>(n);
    for (size_type j = 0; j < n; ++j) {
      const T xh = (x(r, j) - m) * s;
      dx(r, j) = s * (dy(r, j) * gamma[j] - mg - xh * mgx);
      if (dy_xhat.rows() != 0) dy_xhat(r, j) = dy(r, j) * xh;
    }
  }
};

}  // namespace kernels

/// y = layer_norm(x) with per-column gain and bias; mean and rstd (one per row) keep what the
/// backward needs. y may alias nothing.
template <class B, class T, class S = space_of<B>>
  requires elementwise_primitives<B, T>
void layer_norm_forward(const B& be, matrix_view<const T, S> x, vector_view<const T, S> gamma, vector_view<const T, S> beta, T eps, matrix_view<T, S> y,
                        vector_view<T, S> mean, vector_view<T, S> rstd) {
  const char* fn = "hosts::layer_norm_forward";
  detail::require_extent(fn, "gamma", "size (x.cols)", gamma.size(), x.cols());
  detail::require_extent(fn, "beta", "size (x.cols)", beta.size(), x.cols());
  detail::require_extent(fn, "y", "rows (x.rows)", y.rows(), x.rows());
  detail::require_extent(fn, "y", "cols (x.cols)", y.cols(), x.cols());
  detail::require_extent(fn, "mean", "size (x.rows)", mean.size(), x.rows());
  detail::require_extent(fn, "rstd", "size (x.rows)", rstd.size(), x.rows());
  if (!(eps > T(0))) detail::fail(fn, "eps", "> 0", eps);
  for_each_index(be, x.rows(), kernels::layer_norm_rows<T, S>{x, gamma, beta, eps, y, mean, rstd}, x.cols());
}

/// dx = dL/dx given dy = dL/dy; when `dy_xhat` (rows x cols scratch) is not empty, dgamma += column
/// sums of dy * xhat and dbeta += column sums of dy (the gain and bias gradients).
template <class B, class T, class S = space_of<B>>
  requires elementwise_primitives<B, T> && reduction_primitives<B, T>
void layer_norm_backward(const B& be, matrix_view<const T, S> x, vector_view<const T, S> gamma, vector_view<const T, S> mean, vector_view<const T, S> rstd,
                         matrix_view<const T, S> dy, matrix_view<T, S> dx, matrix_view<T, S> dy_xhat = {}, vector_view<T, S> dgamma = {},
                         vector_view<T, S> dbeta = {}) {
  const char* fn = "hosts::layer_norm_backward";
  detail::require_extent(fn, "dy", "rows (x.rows)", dy.rows(), x.rows());
  detail::require_extent(fn, "dy", "cols (x.cols)", dy.cols(), x.cols());
  detail::require_extent(fn, "dx", "rows (x.rows)", dx.rows(), x.rows());
  detail::require_extent(fn, "dx", "cols (x.cols)", dx.cols(), x.cols());
  detail::require_extent(fn, "gamma", "size (x.cols)", gamma.size(), x.cols());
  detail::require_extent(fn, "mean", "size (x.rows)", mean.size(), x.rows());
  detail::require_extent(fn, "rstd", "size (x.rows)", rstd.size(), x.rows());
  const bool params = dy_xhat.rows() != 0;
  if (params) {
    detail::require_extent(fn, "dy_xhat", "rows (x.rows)", dy_xhat.rows(), x.rows());
    detail::require_extent(fn, "dy_xhat", "cols (x.cols)", dy_xhat.cols(), x.cols());
  }
  for_each_index(be, x.rows(), kernels::layer_norm_backward_rows<T, S>{x, dy, gamma, mean, rstd, dx, dy_xhat}, x.cols());
  if (params) {
    add_column_sums(be, matrix_view<const T, S>(dy_xhat), dgamma);
    add_column_sums(be, dy, dbeta);
  }
}

}  // namespace beacon::hosts
