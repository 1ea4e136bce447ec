// SPDX-License-Identifier: Apache-2.0
#pragma once
// beacon::testing::reference — a third backend, for the tests only: single-threaded plain loops
// over host memory, no Eigen, no OpenMP, no fused module kernels. It models complete_backend
// (backend/contract.hpp) with nothing but the generic primitives, so every algorithm that compiles
// and passes against it proves the contract is complete; and its straightforward loops (sums in
// double, the textbook formulas) are the oracle the CPU backend's conformance is checked against.
//
// Argument checks reuse backend/checks.hpp (the same messages as every backend); index, NaN and
// offset checks that need the data are written here again.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <string_view>
#include <type_traits>
#include <vector>

#include <beacon/backend/checks.hpp>
#include <beacon/backend/contract.hpp>
#include <beacon/core/host_buffer.hpp>

namespace beacon::testing {

class reference {
 public:
  using memory_space = host_space;
  reference() : scratch_(std::make_shared<host_workspace>()) {}
  static constexpr std::string_view name() noexcept { return "reference"; }
  void synchronize() const noexcept {}
  [[nodiscard]] workspace_arena<host_space> scratch(std::size_t bytes) const { return scratch_->reserve(bytes); }

 private:
  std::shared_ptr<host_workspace> scratch_;
};

// ---- memory ---------------------------------------------------------------------------------------

template <class T>
host_buffer<T> make_buffer(const reference& /*be*/, size_type n) {
  if (n < 0) beacon::fail("make_buffer", "n", ">= 0", n);
  return host_buffer<T>(n);
}

template <class S, class T>
  requires same_element<S, T>
void copy(const reference& /*be*/, vector_view<S, host_space> src, vector_view<T, host_space> dst) {
  beacon::require_extent("copy", "dst", "size (src.size)", dst.size(), src.size());
  // memmove semantics: overlapping ranges copy as if through a temporary.
  std::vector<std::remove_const_t<T>> tmp(src.begin(), src.end());
  for (size_type i = 0; i < src.size(); ++i) dst[i] = tmp[static_cast<std::size_t>(i)];
}

// ---- elementwise ----------------------------------------------------------------------------------

template <class T>
void fill(const reference& /*be*/, std::type_identity_t<T> value, matrix_view<T, host_space> out) {
  for (size_type i = 0; i < out.rows(); ++i)
    for (size_type j = 0; j < out.cols(); ++j) out(i, j) = value;
}

template <class X, class Y, class T>
  requires same_element<X, T> && same_element<Y, T>
void axpby(const reference& /*be*/, std::type_identity_t<T> a, matrix_view<X, host_space> x, std::type_identity_t<T> b,
           matrix_view<Y, host_space> y, matrix_view<T, host_space> out) {
  beacon::require_same_shape("axpby", "y", x, y);
  beacon::require_same_shape("axpby", "out", x, out);
  for (size_type i = 0; i < x.rows(); ++i)
    for (size_type j = 0; j < x.cols(); ++j) out(i, j) = a * x(i, j) + b * y(i, j);
}

template <class X, class Y, class T>
  requires same_element<X, T> && same_element<Y, T>
void row_dot(const reference& /*be*/, matrix_view<X, host_space> x, matrix_view<Y, host_space> y, vector_view<T, host_space> out) {
  beacon::require_same_shape("row_dot", "y", x, y);
  beacon::require_extent("row_dot", "out", "size (x.rows)", out.size(), x.rows());
  for (size_type i = 0; i < x.rows(); ++i) {
    double acc = 0;
    for (size_type j = 0; j < x.cols(); ++j) acc += static_cast<double>(x(i, j)) * static_cast<double>(y(i, j));
    out[i] = static_cast<T>(acc);
  }
}

template <class X, class T>
  requires same_element<X, T>
void normalize_rows(const reference& /*be*/, matrix_view<X, host_space> x, matrix_view<T, host_space> out) {
  beacon::require_same_shape("normalize_rows", "out", x, out);
  for (size_type i = 0; i < x.rows(); ++i) {
    double sq = 0;
    for (size_type j = 0; j < x.cols(); ++j) sq += static_cast<double>(x(i, j)) * static_cast<double>(x(i, j));
    const double inv = sq > 0 ? 1.0 / std::sqrt(sq) : 0.0;
    for (size_type j = 0; j < x.cols(); ++j) out(i, j) = static_cast<T>(static_cast<double>(x(i, j)) * inv);
  }
}

template <class F>
void for_each_index(const reference& /*be*/, size_type n, const F& f, size_type /*cost*/ = 1) {
  if (n < 0) beacon::fail("for_each_index", "n", ">= 0", n);
  for (size_type i = 0; i < n; ++i) f(i);
}

template <class F>
void for_each_element(const reference& /*be*/, size_type rows, size_type cols, const F& f) {
  if (rows < 0) beacon::fail("for_each_element", "rows", ">= 0", rows);
  if (cols < 0) beacon::fail("for_each_element", "cols", ">= 0", cols);
  for (size_type r = 0; r < rows; ++r)
    for (size_type c = 0; c < cols; ++c) f(r, c);
}

// ---- reductions -----------------------------------------------------------------------------------

namespace detail {
/// Rows valid for the softmax family: no NaN, no +inf, at least one entry > -inf.
template <class T>
bool softmax_row_ok(const T* x, size_type n) {
  bool any = n == 0;
  for (size_type j = 0; j < n; ++j) {
    if (std::isnan(x[j]) || x[j] == std::numeric_limits<T>::infinity()) return false;
    if (x[j] > -std::numeric_limits<T>::infinity()) any = true;
  }
  return any;
}
[[noreturn]] inline void bad_softmax_row(const char* fn, size_type row) {
  beacon::fail(fn, "in", "finite logits (no NaN or +inf, at least one value > -inf per row)",
               beacon::concat("a non-finite value in row ", row));
}
/// Row-wise log-sum-exp in double: max + log sum exp(x - max), -inf entries contributing 0.
template <class T>
double logsumexp(const T* x, size_type n) {
  double m = -std::numeric_limits<double>::infinity();
  for (size_type j = 0; j < n; ++j) m = std::max(m, static_cast<double>(x[j]));
  double s = 0;
  for (size_type j = 0; j < n; ++j)
    if (x[j] > -std::numeric_limits<T>::infinity()) s += std::exp(static_cast<double>(x[j]) - m);
  return m + std::log(s);
}
/// Indices of a row ordered by value descending, ties to the lower index (a stable sort).
template <class T>
std::vector<index_type> descending_order(const T* x, size_type n) {
  std::vector<index_type> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), index_type{0});
  std::stable_sort(order.begin(), order.end(), [x](index_type a, index_type b) { return x[a] > x[b]; });
  return order;
}
template <class In>
void arg_extreme(const char* fn, matrix_view<In, host_space> in, vector_view<index_type, host_space> out, bool want_max) {
  beacon::detail::check_row_index(fn, in, out);
  for (size_type i = 0; i < in.rows(); ++i) {
    index_type best = 0;
    for (size_type j = 0; j < in.cols(); ++j) {
      if (std::isnan(in(i, j))) beacon::fail(fn, "in", "no NaN", beacon::concat("NaN in row ", i));
      if (want_max ? in(i, j) > in(i, best) : in(i, j) < in(i, best)) best = static_cast<index_type>(j);
    }
    out[i] = best;
  }
}
}  // namespace detail

template <class In, class T>
  requires same_element<In, T>
void sum(const reference& /*be*/, vector_view<In, host_space> x, vector_view<T, host_space> out) {
  beacon::require_extent("sum", "out", "size", out.size(), 1);
  double acc = 0;
  for (size_type i = 0; i < x.size(); ++i) acc += static_cast<double>(x[i]);
  out[0] = static_cast<T>(acc);
}

template <class In, class T>
  requires same_element<In, T>
void row_softmax(const reference& /*be*/, matrix_view<In, host_space> in, matrix_view<T, host_space> out) {
  beacon::require_same_shape("row_softmax", "out", in, out);
  for (size_type i = 0; i < in.rows(); ++i) {
    if (!detail::softmax_row_ok(in.row(i), in.cols())) detail::bad_softmax_row("row_softmax", i);
    double m = -std::numeric_limits<double>::infinity(), s = 0;
    for (size_type j = 0; j < in.cols(); ++j) m = std::max(m, static_cast<double>(in(i, j)));
    std::vector<double> e(static_cast<std::size_t>(in.cols()));
    for (size_type j = 0; j < in.cols(); ++j) s += e[static_cast<std::size_t>(j)] = std::exp(static_cast<double>(in(i, j)) - m);
    for (size_type j = 0; j < in.cols(); ++j) out(i, j) = static_cast<T>(e[static_cast<std::size_t>(j)] / s);
  }
}

template <class In, class T>
  requires same_element<In, T>
void row_logsumexp(const reference& /*be*/, matrix_view<In, host_space> in, vector_view<T, host_space> out) {
  beacon::require_extent("row_logsumexp", "out", "size (in.rows)", out.size(), in.rows());
  if (in.rows() > 0 && in.cols() == 0) beacon::fail<shape_error>("row_logsumexp", "in", "at least one column", "0 columns");
  for (size_type i = 0; i < in.rows(); ++i) {
    if (!detail::softmax_row_ok(in.row(i), in.cols())) detail::bad_softmax_row("row_logsumexp", i);
    out[i] = static_cast<T>(detail::logsumexp(in.row(i), in.cols()));
  }
}

template <class In, class T>
  requires same_element<In, T>
void row_top_k(const reference& /*be*/, matrix_view<In, host_space> in, size_type k, matrix_view<T, host_space> values,
               matrix_view<index_type, host_space> indices) {
  beacon::detail::check_top_k("row_top_k", in, k, values, indices);
  for (size_type i = 0; i < in.rows(); ++i) {
    for (size_type j = 0; j < in.cols(); ++j)
      if (std::isnan(in(i, j))) beacon::fail("row_top_k", "in", "no NaN", beacon::concat("NaN in row ", i));
    const auto order = detail::descending_order(in.row(i), in.cols());
    for (size_type p = 0; p < k; ++p) {
      indices(i, p) = order[static_cast<std::size_t>(p)];
      values(i, p) = in(i, indices(i, p));
    }
  }
}

template <class In, class T>
  requires same_element<In, T>
void softmax_top_k(const reference& /*be*/, matrix_view<In, host_space> logits, size_type k, bool renormalize,
                   matrix_view<T, host_space> weights, matrix_view<index_type, host_space> ids) {
  beacon::detail::check_top_k("softmax_top_k", logits, k, weights, ids);
  for (size_type i = 0; i < logits.rows(); ++i) {
    if (!detail::softmax_row_ok(logits.row(i), logits.cols())) detail::bad_softmax_row("softmax_top_k", i);
    const double lse = detail::logsumexp(logits.row(i), logits.cols());
    const auto order = detail::descending_order(logits.row(i), logits.cols());
    double selected = 0;
    for (size_type p = 0; p < k; ++p) {
      ids(i, p) = order[static_cast<std::size_t>(p)];
      selected += std::exp(static_cast<double>(logits(i, ids(i, p))) - lse);
    }
    for (size_type p = 0; p < k; ++p) {
      const double prob = std::exp(static_cast<double>(logits(i, ids(i, p))) - lse);
      weights(i, p) = static_cast<T>(renormalize ? prob / selected : prob);
    }
  }
}

template <class In>
void row_argmax(const reference& /*be*/, matrix_view<In, host_space> in, vector_view<index_type, host_space> out) {
  detail::arg_extreme("row_argmax", in, out, true);
}

template <class In>
void row_argmin(const reference& /*be*/, matrix_view<In, host_space> in, vector_view<index_type, host_space> out) {
  detail::arg_extreme("row_argmin", in, out, false);
}

template <class Src, class O, class T>
  requires same_element<Src, T> && same_element<O, index_type>
void segment_sum_rows(const reference& /*be*/, matrix_view<Src, host_space> src, vector_view<O, host_space> offsets,
                      matrix_view<T, host_space> dst) {
  const char* fn = "segment_sum_rows";
  beacon::detail::check_segment_sum(fn, src, offsets, dst);
  if (offsets[0] != 0) beacon::fail(fn, "offsets[0]", "0", offsets[0]);
  if (offsets[offsets.size() - 1] != src.rows())
    beacon::fail(fn, "offsets[last]", beacon::concat("src.rows (", src.rows(), ")"), offsets[offsets.size() - 1]);
  for (size_type s = 0; s + 1 < offsets.size(); ++s)
    if (offsets[s + 1] < offsets[s])
      beacon::fail(fn, "offsets", "non-decreasing entries", beacon::concat(offsets[s + 1], " after ", offsets[s], " at position ", s + 1));
  for (size_type s = 0; s < dst.rows(); ++s)
    for (size_type j = 0; j < dst.cols(); ++j) {
      double acc = 0;
      for (size_type r = offsets[s]; r < offsets[s + 1]; ++r) acc += static_cast<double>(src(r, j));
      dst(s, j) = static_cast<T>(acc);
    }
}

template <class X, class T>
  requires same_element<X, T>
void add_column_sums(const reference& /*be*/, matrix_view<X, host_space> x, vector_view<T, host_space> out) {
  beacon::require_extent("add_column_sums", "out", "size (x.cols)", out.size(), x.cols());
  for (size_type j = 0; j < x.cols(); ++j) {
    double acc = 0;
    for (size_type i = 0; i < x.rows(); ++i) acc += static_cast<double>(x(i, j));
    out[j] = static_cast<T>(static_cast<double>(out[j]) + acc);
  }
}

template <class Tok, class M, class T>
  requires same_element<Tok, T>
void masked_mean_pool(const reference& /*be*/, matrix_view<Tok, host_space> tokens, matrix_view<M, host_space> mask,
                      matrix_view<T, host_space> out) {
  beacon::detail::check_masked_mean_pool("masked_mean_pool", tokens, mask, out);
  const size_type length = mask.cols();
  for (size_type b = 0; b < mask.rows(); ++b) {
    size_type count = 0;
    for (size_type l = 0; l < length; ++l) count += mask(b, l) != M(0) ? 1 : 0;
    if (count == 0)
      beacon::fail("masked_mean_pool", "mask", "at least one nonzero entry per row", beacon::concat("an all-zero row ", b));
    for (size_type j = 0; j < tokens.cols(); ++j) {
      double acc = 0;
      for (size_type l = 0; l < length; ++l)
        if (mask(b, l) != M(0)) acc += static_cast<double>(tokens(b * length + l, j));
      out(b, j) = static_cast<T>(acc / static_cast<double>(count));
    }
  }
}

// ---- GEMM -----------------------------------------------------------------------------------------

template <class TA, class TB, class T>
  requires same_element<TA, T> && same_element<TB, T>
void gemm(const reference& /*be*/, transpose ta, transpose tb, std::type_identity_t<T> alpha, matrix_view<TA, host_space> a,
          matrix_view<TB, host_space> b, std::type_identity_t<T> beta, matrix_view<T, host_space> c) {
  beacon::detail::check_gemm("gemm", ta, tb, a, b, c);
  const size_type k = ta == transpose::no ? a.cols() : a.rows();
  auto at = [&](size_type i, size_type p) { return static_cast<double>(ta == transpose::yes ? a(p, i) : a(i, p)); };
  auto bt = [&](size_type p, size_type j) { return static_cast<double>(tb == transpose::yes ? b(j, p) : b(p, j)); };
  for (size_type i = 0; i < c.rows(); ++i)
    for (size_type j = 0; j < c.cols(); ++j) {
      double acc = 0;
      for (size_type p = 0; p < k; ++p) acc += at(i, p) * bt(p, j);
      // beta = 0 overwrites (BLAS rule: c is not read, so NaN in c does not survive).
      const double prior = beta == T(0) ? 0.0 : static_cast<double>(beta) * static_cast<double>(c(i, j));
      c(i, j) = static_cast<T>(static_cast<double>(alpha) * acc + prior);
    }
}

// ---- rows -----------------------------------------------------------------------------------------

namespace detail {
template <class I>
void check_in_range(const char* fn, vector_view<I, host_space> index, size_type bound) {
  for (size_type i = 0; i < index.size(); ++i)
    if (index[i] < 0 || index[i] >= bound)
      beacon::fail(fn, "index", beacon::concat("entries in [0, ", bound, ")"), beacon::concat(index[i], " at position ", i));
}
}  // namespace detail

template <class Src, class I, class T>
  requires same_element<Src, T> && same_element<I, index_type>
void gather_rows(const reference& /*be*/, matrix_view<Src, host_space> src, vector_view<I, host_space> index,
                 matrix_view<T, host_space> dst) {
  beacon::detail::check_gather("gather_rows", src, index, dst);
  detail::check_in_range("gather_rows", index, src.rows());
  for (size_type i = 0; i < dst.rows(); ++i)
    for (size_type j = 0; j < dst.cols(); ++j) dst(i, j) = src(index[i], j);
}

template <class Src, class I, class T>
  requires same_element<Src, T> && same_element<I, index_type>
void scatter_rows(const reference& /*be*/, matrix_view<Src, host_space> src, vector_view<I, host_space> index,
                  matrix_view<T, host_space> dst) {
  beacon::detail::check_scatter("scatter_rows", src, index, dst);
  detail::check_in_range("scatter_rows", index, dst.rows());
  for (size_type i = 0; i < index.size(); ++i)
    for (size_type p = 0; p < i; ++p)
      if (index[p] == index[i])
        beacon::fail("scatter_rows", "index", "distinct entries", beacon::concat("a repeat of ", index[i], " at position ", i));
  for (size_type i = 0; i < src.rows(); ++i)
    for (size_type j = 0; j < src.cols(); ++j) dst(index[i], j) = src(i, j);
}

template <class K>
  requires same_element<K, index_type>
void group_rows_by_key(const reference& /*be*/, vector_view<K, host_space> keys, size_type groups,
                       vector_view<index_type, host_space> offsets, vector_view<index_type, host_space> permutation) {
  beacon::detail::check_group_rows("group_rows_by_key", keys, groups, offsets, permutation);
  for (size_type i = 0; i < keys.size(); ++i)
    if (keys[i] < 0 || keys[i] >= groups)
      beacon::fail("group_rows_by_key", "keys", beacon::concat("values in [0, ", groups, ")"), beacon::concat(keys[i], " at position ", i));
  // One pass per group: rows of group g in their original order (stable by construction).
  size_type next = 0;
  for (size_type g = 0; g < groups; ++g) {
    offsets[g] = static_cast<index_type>(next);
    for (size_type i = 0; i < keys.size(); ++i)
      if (keys[i] == g) permutation[next++] = static_cast<index_type>(i);
  }
  offsets[groups] = static_cast<index_type>(next);
}

// ---- random ---------------------------------------------------------------------------------------

template <class T>
void fill_normal(const reference& /*be*/, philox_stream noise, matrix_view<T, host_space> out) {
  for (size_type i = 0; i < out.rows(); ++i)
    for (size_type j = 0; j < out.cols(); ++j) out(i, j) = static_cast<T>(noise.normal(static_cast<std::uint64_t>(i * out.cols() + j)));
}

template <class T>
void fill_uniform(const reference& /*be*/, philox_stream noise, matrix_view<T, host_space> out) {
  for (size_type i = 0; i < out.rows(); ++i)
    for (size_type j = 0; j < out.cols(); ++j) {
      const auto k = static_cast<std::uint64_t>(i * out.cols() + j);
      if constexpr (std::is_same_v<T, double>) out(i, j) = noise.uniform_double(k);
      else out(i, j) = static_cast<T>(noise.uniform(k));
    }
}

template <class A, class X, class B, class T>
  requires same_element<A, T> && same_element<X, T> && same_element<B, T>
void row_axpby_noise(const reference& /*be*/, vector_view<A, host_space> a, matrix_view<X, host_space> x,
                     vector_view<B, host_space> b, philox_stream noise, matrix_view<T, host_space> out) {
  beacon::detail::check_row_coefficients("row_axpby_noise", a, b, x, out);
  for (size_type i = 0; i < x.rows(); ++i)
    for (size_type j = 0; j < x.cols(); ++j)
      out(i, j) = a[i] * x(i, j) + b[i] * static_cast<T>(noise.normal(static_cast<std::uint64_t>(i * x.cols() + j)));
}

template <class A, class X, class B, class Y, class C, class T>
  requires same_element<A, T> && same_element<X, T> && same_element<B, T> && same_element<Y, T> && same_element<C, T>
void row_axpbypcz_noise(const reference& /*be*/, vector_view<A, host_space> a, matrix_view<X, host_space> x, vector_view<B, host_space> b,
                        matrix_view<Y, host_space> y, vector_view<C, host_space> c, philox_stream noise, matrix_view<T, host_space> out) {
  beacon::detail::check_row_coefficients("row_axpbypcz_noise", a, b, x, out);
  beacon::require_extent("row_axpbypcz_noise", "c", "size (x.rows)", c.size(), x.rows());
  beacon::require_same_shape("row_axpbypcz_noise", "y", x, y);
  for (size_type i = 0; i < x.rows(); ++i)
    for (size_type j = 0; j < x.cols(); ++j) {
      const T base = a[i] * x(i, j) + b[i] * y(i, j);
      // c = 0 draws nothing: the row is exactly a x + b y (the deterministic last step).
      out(i, j) = c[i] == T(0) ? base : base + c[i] * static_cast<T>(noise.normal(static_cast<std::uint64_t>(i * x.cols() + j)));
    }
}

// ---- layers ---------------------------------------------------------------------------------------

template <class Bias, class T>
  requires same_element<Bias, T>
void bias_activation(const reference& /*be*/, activation act, vector_view<Bias, host_space> bias, matrix_view<T, host_space> z,
                     matrix_view<T, host_space> a) {
  beacon::detail::check_bias_activation("bias_activation", bias, z, a);
  for (size_type i = 0; i < z.rows(); ++i)
    for (size_type j = 0; j < z.cols(); ++j) {
      if (!bias.empty()) z(i, j) += bias[j];
      a(i, j) = activate(act, z(i, j));
    }
}

template <class Z, class DY, class T>
  requires same_element<Z, T> && same_element<DY, T>
void activation_backward(const reference& /*be*/, activation act, matrix_view<Z, host_space> z, matrix_view<DY, host_space> dy,
                         matrix_view<T, host_space> dz) {
  beacon::require_same_shape("activation_backward", "dy", z, dy);
  beacon::require_same_shape("activation_backward", "dz", z, dz);
  for (size_type i = 0; i < z.rows(); ++i)
    for (size_type j = 0; j < z.cols(); ++j) dz(i, j) = dy(i, j) * activate_derivative(act, z(i, j));
}

template <class A, class B, class T>
  requires same_element<A, T> && same_element<B, T>
void gated_activation(const reference& /*be*/, activation act, matrix_view<A, host_space> a, matrix_view<B, host_space> b,
                      matrix_view<T, host_space> u) {
  beacon::require_same_shape("gated_activation", "b", a, b);
  beacon::require_same_shape("gated_activation", "u", a, u);
  for (size_type i = 0; i < a.rows(); ++i)
    for (size_type j = 0; j < a.cols(); ++j) u(i, j) = activate(act, a(i, j)) * b(i, j);
}

template <class A, class B, class DU, class T>
  requires same_element<A, T> && same_element<B, T> && same_element<DU, T>
void gated_activation_backward(const reference& /*be*/, activation act, matrix_view<A, host_space> a, matrix_view<B, host_space> b,
                               matrix_view<DU, host_space> du, matrix_view<T, host_space> da, matrix_view<T, host_space> db) {
  beacon::detail::check_same_shapes("gated_activation_backward", "b", "du", "da", a, b, du, da);
  beacon::require_same_shape("gated_activation_backward", "db", a, db);
  for (size_type i = 0; i < a.rows(); ++i)
    for (size_type j = 0; j < a.cols(); ++j) {
      const T z = a(i, j), g = du(i, j), gate = b(i, j);
      da(i, j) = g * gate * activate_derivative(act, z);
      db(i, j) = g * activate(act, z);
    }
}

template <class G, class T>
  requires same_element<G, T>
void adamw_step(const reference& /*be*/, const adamw_coefficients& c, vector_view<T, host_space> value, vector_view<G, host_space> grad,
                vector_view<T, host_space> m, vector_view<T, host_space> v) {
  beacon::detail::check_adamw("adamw_step", c, value, grad, m, v);
  // The AdamW update written out from its definition (Loshchilov & Hutter), in double.
  for (size_type i = 0; i < value.size(); ++i) {
    const double g = static_cast<double>(grad[i]);
    const double m1 = c.beta1 * static_cast<double>(m[i]) + (1 - c.beta1) * g;
    const double v1 = c.beta2 * static_cast<double>(v[i]) + (1 - c.beta2) * g * g;
    const double m_hat = m1 / c.bias_correction1, v_hat = v1 / c.bias_correction2;
    const double theta = static_cast<double>(value[i]);
    m[i] = static_cast<T>(m1);
    v[i] = static_cast<T>(v1);
    value[i] = static_cast<T>(theta - c.lr * (m_hat / (std::sqrt(v_hat) + c.eps) + c.weight_decay * theta));
  }
}

static_assert(complete_backend<reference, float> && complete_backend<reference, double>);

}  // namespace beacon::testing
