// SPDX-License-Identifier: Apache-2.0
#pragma once
// Row softmax, row top-k, the fused softmax + top-k router primitive, and row arg-max / arg-min
// on the CPU backend. Ties always go to the lower column index.

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "../../core/eigen.hpp"
#include "../checks.hpp"
#include "cpu.hpp"

namespace beacon {

namespace detail {

/// Row max for softmax, vectorised; NaN or +inf anywhere, or a row of only -inf, makes the row
/// invalid. `has_masked` reports -inf entries (only those rows pay for the exact-zero select).
template <class T>
bool softmax_row_max(const T* x, size_type n, T& max_out, bool& has_masked) {
  using array = Eigen::Array<T, Eigen::Dynamic, 1>;
  const Eigen::Map<const array> v(x, n);
  constexpr T inf = std::numeric_limits<T>::infinity();
  max_out = n > 0 ? v.maxCoeff() : -inf;
  has_masked = n > 0 && (v == -inf).any();
  const bool bad = n > 0 && (v.isNaN().any() || (v == inf).any());
  return !bad && (n == 0 || std::isfinite(max_out));
}

/// exp(x - m) of a row into y; entries that are -inf (masks) become exactly 0 (Eigen's vectorised
/// exp flushes them to a denormal), with the select paid only by rows that have such entries.
template <class X, class Y, class T>
void masked_exp(const X& x, Y& y, T m, bool has_masked) {
  if (has_masked) y = (x > -std::numeric_limits<T>::infinity()).select((x - m).exp(), T(0));
  else y = (x - m).exp();
}

/// sum_j exp(x_j - m), with -inf entries contributing exactly 0.
template <class X, class T>
T masked_exp_sum(const X& x, T m, bool has_masked) {
  if (has_masked) return (x > -std::numeric_limits<T>::infinity()).select((x - m).exp(), T(0)).sum();
  return (x - m).exp().sum();
}

[[noreturn]] inline void bad_softmax_row(const char* fn, size_type row) {
  fail(fn, "in", "finite logits (no NaN or +inf, at least one value > -inf per row)",
       concat("a non-finite value in row ", row));
}

/// Top-k of one row into (values, ids), descending, ties to the lower index; false on NaN.
/// Small k keeps an insertion-sorted buffer (one pass, the router case); larger k partial-sorts.
template <class T, class V>
bool row_top_k_into(const T* x, size_type n, size_type k, V* values, index_type* ids, std::vector<index_type>& order) {
  for (size_type j = 0; j < n; ++j)
    if (std::isnan(x[j])) return false;
  if (k == 0) return true;
  if (k <= 16) {
    size_type filled = 0;
    for (size_type j = 0; j < n; ++j) {
      const T v = x[j];
      if (filled == k && !(v > static_cast<T>(values[k - 1]))) continue;
      size_type p = filled < k ? filled : k - 1;
      // Strict '>' keeps earlier (lower-index) equal values ahead.
      while (p > 0 && v > static_cast<T>(values[p - 1])) {
        values[p] = values[p - 1];
        ids[p] = ids[p - 1];
        --p;
      }
      values[p] = static_cast<V>(v);
      ids[p] = static_cast<index_type>(j);
      if (filled < k) ++filled;
    }
    return true;
  }
  order.resize(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), index_type{0});
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [x](index_type a, index_type b) {
    return x[a] > x[b] || (x[a] == x[b] && a < b);
  });
  for (size_type p = 0; p < k; ++p) {
    ids[p] = order[static_cast<std::size_t>(p)];
    values[p] = static_cast<V>(x[ids[p]]);
  }
  return true;
}

/// Arg-max (sign = +1) or arg-min (sign = -1) of a row; -1 on NaN.
template <class T>
index_type row_arg_extreme(const T* x, size_type n, bool want_max) {
  index_type best = 0;
  for (size_type j = 0; j < n; ++j) {
    if (std::isnan(x[j])) return -1;
    if (want_max ? x[j] > x[best] : x[j] < x[best]) best = static_cast<index_type>(j);
  }
  return best;
}

template <class In>
void row_arg_extreme(const cpu& be, const char* fn, matrix_view<In, host_space> in,
                     vector_view<index_type, host_space> out, bool want_max) {
  check_row_index(fn, in, out);
  size_type bad = no_bad_row;
#pragma omp parallel for num_threads(be.threads_for(in.size())) schedule(static) reduction(min : bad)
  for (size_type i = 0; i < in.rows(); ++i) {
    out[i] = row_arg_extreme(in.row(i), in.cols(), want_max);
    if (out[i] < 0) bad = std::min(bad, i);
  }
  if (bad != no_bad_row) fail(fn, "in", "no NaN", concat("NaN in row ", bad));
}

}  // namespace detail

/// out(i, :) = softmax(in(i, :)), max-subtracted. `out` may alias `in`. Rejects NaN, +inf and
/// rows of only -inf with value_error (-inf entries alone are allowed: they act as masks).
template <class In, class T>
  requires same_element<In, T>
void row_softmax(const cpu& be, matrix_view<In, host_space> in, matrix_view<T, host_space> out) {
  detail::require_same_shape("row_softmax", "out", in, out);
  using array = Eigen::Array<T, Eigen::Dynamic, 1>;
  size_type bad = detail::no_bad_row;
#pragma omp parallel for num_threads(be.threads_for(in.size())) schedule(static) reduction(min : bad)
  for (size_type i = 0; i < in.rows(); ++i) {
    T m;
    bool masked;
    if (!detail::softmax_row_max(in.row(i), in.cols(), m, masked)) {
      bad = std::min(bad, i);
      continue;
    }
    Eigen::Map<const array> x(in.row(i), in.cols());
    Eigen::Map<array> y(out.row(i), out.cols());
    detail::masked_exp(x, y, m, masked);
    y *= T(1) / y.sum();
  }
  if (bad != detail::no_bad_row) detail::bad_softmax_row("row_softmax", bad);
}

/// out[i] = log sum_j exp(in(i, j)), max-subtracted (a cross-entropy is out[i] - in(i, target)).
/// Same input rules as row_softmax.
template <class In, class T>
  requires same_element<In, T>
void row_logsumexp(const cpu& be, matrix_view<In, host_space> in, vector_view<T, host_space> out) {
  detail::require_extent("row_logsumexp", "out", "size (in.rows)", out.size(), in.rows());
  if (in.rows() > 0 && in.cols() == 0) detail::fail<shape_error>("row_logsumexp", "in", "at least one column", "0 columns");
  using array = Eigen::Array<T, Eigen::Dynamic, 1>;
  size_type bad = detail::no_bad_row;
#pragma omp parallel for num_threads(be.threads_for(in.size())) schedule(static) reduction(min : bad)
  for (size_type i = 0; i < in.rows(); ++i) {
    T m;
    bool masked;
    if (!detail::softmax_row_max(in.row(i), in.cols(), m, masked)) {
      bad = std::min(bad, i);
      continue;
    }
    const Eigen::Map<const array> x(in.row(i), in.cols());
    out[i] = m + std::log(detail::masked_exp_sum(x, m, masked));
  }
  if (bad != detail::no_bad_row) detail::bad_softmax_row("row_logsumexp", bad);
}

/// The k largest entries of every row, descending, ties to the lower column index.
/// k = 0 is allowed (nothing to write); k > cols is a value_error; NaN entries are a value_error.
template <class In, class T>
  requires same_element<In, T>
void row_top_k(const cpu& be, matrix_view<In, host_space> in, size_type k, matrix_view<T, host_space> values,
               matrix_view<index_type, host_space> indices) {
  detail::check_top_k("row_top_k", in, k, values, indices);
  size_type bad = detail::no_bad_row;
#pragma omp parallel num_threads(be.threads_for(in.size()))
  {
    std::vector<index_type> order;
#pragma omp for schedule(static) reduction(min : bad)
    for (size_type i = 0; i < in.rows(); ++i)
      if (!detail::row_top_k_into(in.row(i), in.cols(), k, values.row(i), indices.row(i), order))
        bad = std::min(bad, i);
  }
  if (bad != detail::no_bad_row) detail::fail("row_top_k", "in", "no NaN", detail::concat("NaN in row ", bad));
}

/// Router primitive: top-k experts of softmax(logits) per row, in one pass over the logits.
/// weights(i, p) = softmax(logits(i, :))[ids(i, p)], or, with `renormalize`, those k probabilities
/// divided by their sum (so each row of weights sums to 1). Same input rules as row_softmax.
template <class In, class T>
  requires same_element<In, T>
void softmax_top_k(const cpu& be, matrix_view<In, host_space> logits, size_type k, bool renormalize,
                   matrix_view<T, host_space> weights, matrix_view<index_type, host_space> ids) {
  detail::check_top_k("softmax_top_k", logits, k, weights, ids);
  using array = Eigen::Array<T, Eigen::Dynamic, 1>;
  size_type bad = detail::no_bad_row;
#pragma omp parallel num_threads(be.threads_for(logits.size()))
  {
    std::vector<index_type> order;
#pragma omp for schedule(static) reduction(min : bad)
    for (size_type i = 0; i < logits.rows(); ++i) {
      T m;
      bool masked;
      if (!detail::softmax_row_max(logits.row(i), logits.cols(), m, masked)) {
        bad = std::min(bad, i);
        continue;
      }
      detail::row_top_k_into(logits.row(i), logits.cols(), k, weights.row(i), ids.row(i), order);
      const Eigen::Map<const array> x(logits.row(i), logits.cols());
      const T denom = detail::masked_exp_sum(x, m, masked);
      T selected = T(0);
      for (size_type p = 0; p < k; ++p) {
        weights(i, p) = std::exp(weights(i, p) - m);
        selected += weights(i, p);
      }
      const T scale = T(1) / (renormalize ? selected : denom);
      for (size_type p = 0; p < k; ++p) weights(i, p) *= scale;
    }
  }
  if (bad != detail::no_bad_row) detail::bad_softmax_row("softmax_top_k", bad);
}

/// out[i] = index of the largest entry of row i (ties to the lower index); NaN is a value_error.
template <class In>
void row_argmax(const cpu& be, matrix_view<In, host_space> in, vector_view<index_type, host_space> out) {
  detail::row_arg_extreme(be, "row_argmax", in, out, true);
}

/// out[i] = index of the smallest entry of row i (ties to the lower index); NaN is a value_error.
template <class In>
void row_argmin(const cpu& be, matrix_view<In, host_space> in, vector_view<index_type, host_space> out) {
  detail::row_arg_extreme(be, "row_argmin", in, out, false);
}

}  // namespace beacon
