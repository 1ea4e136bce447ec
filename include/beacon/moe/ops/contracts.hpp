#pragma once
// What the CPU and CUDA implementations of the MoE row kernels share (host and device safe, no
// Eigen): the shape checks (so both backends reject bad arguments with the same beacon::error and
// message) and AdamW's per-element update.
//
// The kernels themselves: backend/cpu/activation.hpp, backend/cpu/moe_kernels.hpp and their CUDA
// twins backend/cuda/activation.cuh, backend/cuda/moe_kernels.cuh.

#include <cmath>

#include "../../backend/checks.hpp"
#include "../../core/config.hpp"

namespace beacon {

/// AdamW's step constants (moe::adamw at one step): lr, betas, eps, decoupled weight decay, and the
/// bias corrections c1 = 1 - beta1^step, c2 = 1 - beta2^step (computed once on the host).
struct adamw_coefficients {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0, bias_correction1 = 1, bias_correction2 = 1;
};

namespace detail {

/// One element of moe::adamw::update, in double, in that function's exact order of operations.
template <class T>
BEACON_HD void adamw_element(const adamw_coefficients& c, T& value, T grad, T& m, T& v) {
  const double g = static_cast<double>(grad);
  const double m1 = c.beta1 * static_cast<double>(m) + (1 - c.beta1) * g;
  const double v1 = c.beta2 * static_cast<double>(v) + (1 - c.beta2) * g * g;
  m = static_cast<T>(m1);
  v = static_cast<T>(v1);
  const double theta = static_cast<double>(value);
  value = static_cast<T>(theta - c.lr * ((m1 / c.bias_correction1) / (std::sqrt(v1 / c.bias_correction2) + c.eps) + c.weight_decay * theta));
}

/// The null route of row r: when its best score is below `threshold` (NaN scores never pass), its
/// gates become 0 and its ids -1. Shared by the CPU loop and the CUDA kernel.
template <class Scores, class Gates, class Ids, class T>
BEACON_HD void null_route_row(const Scores& scores, T threshold, const Gates& gates, const Ids& ids, size_type r) {
  T best = scores(r, 0);
  for (size_type c = 1; c < scores.cols(); ++c) best = scores(r, c) > best ? scores(r, c) : best;
  if (!(best < threshold)) return;
  for (size_type j = 0; j < gates.cols(); ++j) {
    gates(r, j) = T(0);
    ids(r, j) = -1;
  }
}

// ---- shape checks ---------------------------------------------------------------------------------

/// A routing matrix (ids, gates) has one row per tokens_per_route tokens.
inline void require_routing_rows(const char* fn, const char* arg, size_type rows, size_type tokens, size_type tokens_per_route) {
  if (rows * tokens_per_route != tokens)
    fail<shape_error>(fn, arg, concat("rows = tokens / tokens_per_route (", tokens, " / ", tokens_per_route, ")"), rows);
}

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

template <class I, class K, class S>
void check_dispatch_keys(const char* fn, const matrix_view<I, S>& ids, size_type tokens, size_type tokens_per_route,
                         size_type experts, const vector_view<K, S>& keys) {
  if (tokens_per_route < 1) fail(fn, "tokens_per_route", ">= 1", tokens_per_route);
  if (experts < 1) fail(fn, "experts", ">= 1", experts);
  if (tokens < 0) fail(fn, "tokens", ">= 0", tokens);
  require_routing_rows(fn, "ids", ids.rows(), tokens, tokens_per_route);
  require_extent(fn, "keys", "size (tokens * ids.cols)", keys.size(), tokens * ids.cols());
}

template <class P, class O, class I, class S>
void check_dispatch_pairs(const char* fn, const vector_view<P, S>& permutation, const vector_view<O, S>& group_offsets,
                          size_type k, const vector_view<I, S>& pair_token, const vector_view<I, S>& pair_choice,
                          const matrix_view<I, S>& position) {
  if (k < 1) fail(fn, "k", ">= 1", k);
  if (group_offsets.size() < 2) fail<shape_error>(fn, "group_offsets", "size >= 2 (experts + 2)", group_offsets.size());
  require_extent(fn, "pair_token", "size (permutation.size)", pair_token.size(), permutation.size());
  require_extent(fn, "pair_choice", "size (permutation.size)", pair_choice.size(), permutation.size());
  require_extent(fn, "position", "cols (k)", position.cols(), k);
  require_extent(fn, "position", "rows * cols (permutation.size)", position.rows() * position.cols(), permutation.size());
}

/// Token rows and routing rows: tokens = routing rows * tokens_per_route; position is tokens x k.
template <class P, class G, class S>
void check_token_routing(const char* fn, size_type tokens, const matrix_view<P, S>& position, const matrix_view<G, S>& gates,
                         size_type tokens_per_route) {
  if (tokens_per_route < 1) fail(fn, "tokens_per_route", ">= 1", tokens_per_route);
  require_extent(fn, "position", "rows (tokens)", position.rows(), tokens);
  require_extent(fn, "gates", "cols (position.cols)", gates.cols(), position.cols());
  require_routing_rows(fn, "gates", gates.rows(), tokens, tokens_per_route);
}

template <class Src, class I, class G, class Dst, class S>
void check_gather_gated(const char* fn, const matrix_view<Src, S>& src, const vector_view<I, S>& pair_token,
                        const vector_view<I, S>& pair_choice, const matrix_view<G, S>& gates, size_type tokens_per_route,
                        const matrix_view<Dst, S>& dst) {
  if (tokens_per_route < 1) fail(fn, "tokens_per_route", ">= 1", tokens_per_route);
  require_extent(fn, "dst", "cols (src.cols)", dst.cols(), src.cols());
  require_routing_rows(fn, "gates", gates.rows(), src.rows(), tokens_per_route);
  if (pair_token.size() < dst.rows())
    fail<shape_error>(fn, "pair_token", concat("size >= dst.rows (", dst.rows(), ")"), pair_token.size());
  if (pair_choice.size() < dst.rows())
    fail<shape_error>(fn, "pair_choice", concat("size >= dst.rows (", dst.rows(), ")"), pair_choice.size());
}

template <class Sc, class G, class I, class S>
void check_null_route(const char* fn, const matrix_view<Sc, S>& scores, const matrix_view<G, S>& gates, const matrix_view<I, S>& ids) {
  require_extent(fn, "gates", "rows (scores.rows)", gates.rows(), scores.rows());
  require_same_shape(fn, "ids", gates, ids);
  if (scores.rows() > 0 && scores.cols() == 0) fail<shape_error>(fn, "scores", "at least one column", "0 columns");
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

}  // namespace detail
}  // namespace beacon
