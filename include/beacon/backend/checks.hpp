// SPDX-License-Identifier: Apache-2.0
#pragma once
// Argument validation shared by the CPU and CUDA primitives, so both backends reject bad input
// with the same beacon::error and the same message. Only metadata is checked here (shapes, k,
// ranges of scalars); element checks (NaN, index ranges) need the data and live in each backend.

#include "../core/adamw.hpp"
#include "../core/error.hpp"
#include "../core/view.hpp"

#include <limits>

namespace beacon::detail {

/// "No row failed" for a per-row data check whose first failing row is found with reduction(min:).
inline constexpr size_type no_bad_row = std::numeric_limits<size_type>::max();

template <class A, class B, class S1, class S2>
void require_same_shape(const char* fn, const char* arg, const matrix_view<A, S1>& ref, const matrix_view<B, S2>& m) {
  if (m.rows() != ref.rows() || m.cols() != ref.cols())
    throw shape_error(concat("beacon::", fn, ": argument '", arg, "' expected shape ", ref.rows(), "x", ref.cols(),
                             ", got ", m.rows(), "x", m.cols()));
}

template <class In, class V, class I, class S>
void check_top_k(const char* fn, const matrix_view<In, S>& in, size_type k, const matrix_view<V, S>& values,
                 const matrix_view<I, S>& indices) {
  if (k < 0) fail(fn, "k", ">= 0", k);
  if (k > in.cols()) fail(fn, "k", concat("<= number of columns (", in.cols(), ")"), k);
  require_extent(fn, "values", "rows", values.rows(), in.rows());
  require_extent(fn, "values", "cols", values.cols(), k);
  require_extent(fn, "indices", "rows", indices.rows(), in.rows());
  require_extent(fn, "indices", "cols", indices.cols(), k);
}

template <class In, class I, class S>
void check_row_index(const char* fn, const matrix_view<In, S>& in, const vector_view<I, S>& out) {
  require_extent(fn, "out", "size (rows of in)", out.size(), in.rows());
  if (in.rows() > 0 && in.cols() == 0) fail<shape_error>(fn, "in", "at least one column", "0 columns");
}

template <class Tok, class M, class Out, class S>
void check_masked_mean_pool(const char* fn, const matrix_view<Tok, S>& tokens, const matrix_view<M, S>& mask,
                            const matrix_view<Out, S>& out) {
  require_extent(fn, "tokens", "rows (mask.rows * mask.cols)", tokens.rows(), mask.rows() * mask.cols());
  require_extent(fn, "out", "rows (mask.rows)", out.rows(), mask.rows());
  require_extent(fn, "out", "cols (tokens.cols)", out.cols(), tokens.cols());
}

template <class Src, class I, class Dst, class S>
void check_gather(const char* fn, const matrix_view<Src, S>& src, const vector_view<I, S>& index,
                  const matrix_view<Dst, S>& dst) {
  require_extent(fn, "dst", "rows (index.size)", dst.rows(), index.size());
  require_extent(fn, "dst", "cols (src.cols)", dst.cols(), src.cols());
}

template <class Src, class I, class Dst, class S>
void check_scatter(const char* fn, const matrix_view<Src, S>& src, const vector_view<I, S>& index,
                   const matrix_view<Dst, S>& dst) {
  require_extent(fn, "index", "size (src.rows)", index.size(), src.rows());
  require_extent(fn, "dst", "cols (src.cols)", dst.cols(), src.cols());
}

template <class Src, class O, class Dst, class S>
void check_segment_sum(const char* fn, const matrix_view<Src, S>& src, const vector_view<O, S>& offsets,
                       const matrix_view<Dst, S>& dst) {
  require_extent(fn, "offsets", "size (dst.rows + 1)", offsets.size(), dst.rows() + 1);
  require_extent(fn, "dst", "cols (src.cols)", dst.cols(), src.cols());
}

template <class A, class B, class V, class Out, class S>
void check_row_coefficients(const char* fn, const vector_view<A, S>& a, const vector_view<B, S>& b,
                            const matrix_view<V, S>& x, const matrix_view<Out, S>& out) {
  require_extent(fn, "a", "size (x.rows)", a.size(), x.rows());
  require_extent(fn, "b", "size (x.rows)", b.size(), x.rows());
  require_same_shape(fn, "out", x, out);
}

template <class K, class O, class P, class S>
void check_group_rows(const char* fn, const vector_view<K, S>& keys, size_type groups, const vector_view<O, S>& offsets,
                      const vector_view<P, S>& permutation) {
  if (groups < 0) fail(fn, "groups", ">= 0", groups);
  require_extent(fn, "offsets", "size (groups + 1)", offsets.size(), groups + 1);
  require_extent(fn, "permutation", "size (keys.size)", permutation.size(), keys.size());
}

// ---- dense-layer and optimiser primitives ----------------------------------------------------------

template <class B, class Z, class A, class S>
void check_bias_activation(const char* fn, const vector_view<B, S>& bias, const matrix_view<Z, S>& z, const matrix_view<A, S>& a) {
  if (!bias.empty()) require_extent(fn, "bias", "size (z.cols)", bias.size(), z.cols());
  require_same_shape(fn, "a", z, a);
}

template <class A, class B, class C, class D, class S>
void check_same_shapes(const char* fn, const char* arg_b, const char* arg_c, const char* arg_d, const matrix_view<A, S>& a,
                       const matrix_view<B, S>& b, const matrix_view<C, S>& c, const matrix_view<D, S>& d) {
  require_same_shape(fn, arg_b, a, b);
  require_same_shape(fn, arg_c, a, c);
  require_same_shape(fn, arg_d, a, d);
}

template <class V, class G, class M, class W, class S>
void check_adamw(const char* fn, const adamw_coefficients& c, const vector_view<V, S>& value, const vector_view<G, S>& grad,
                 const vector_view<M, S>& m, const vector_view<W, S>& v) {
  require_extent(fn, "grad", "size (value.size)", grad.size(), value.size());
  require_extent(fn, "m", "size (value.size)", m.size(), value.size());
  require_extent(fn, "v", "size (value.size)", v.size(), value.size());
  if (!(c.bias_correction1 > 0) || !(c.bias_correction2 > 0))
    fail(fn, "coefficients", "bias corrections > 0 (step >= 1)", concat(c.bias_correction1, ", ", c.bias_correction2));
}

}  // namespace beacon::detail

namespace beacon {
using detail::require_same_shape;  // public, as core's fail / require_extent
}  // namespace beacon
