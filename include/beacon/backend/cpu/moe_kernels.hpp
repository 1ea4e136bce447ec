#pragma once
// The MoE adaptor's row kernels on the CPU backend: dispatch keys and pair lists (around the
// backend's group_rows_by_key), gate-weighted combine, gate-weighted gather (the backward's dy),
// the gate gradient, the null route and the AdamW step. The CUDA twins (backend/cuda/moe_kernels.cuh)
// add in the same fixed orders; moe/ops/ composes them into routing, dispatch and experts.
//
// Conventions: a token t belongs to routing row t / tokens_per_route (instance-level routing: all
// L tokens of an instance share its ids and gates); k is the number of choices (ids.cols); a pair
// (t, j) is token t's j-th choice; its grouped position is where its row lives in the
// expert-grouped buffers, or -1 when the choice is empty (id -1, a null route).

#include <cmath>

#include "../../moe/ops/contracts.hpp"
#include "cpu.hpp"

namespace beacon {

/// keys[t * k + j] = ids(t / tokens_per_route, j), or `experts` (one past the last expert: the
/// "no expert" group) for a negative id. Ids >= experts are a value_error.
template <class I>
  requires same_element<I, index_type>
void dispatch_keys(const cpu& be, matrix_view<I, host_space> ids, size_type tokens, size_type tokens_per_route, size_type experts,
                   vector_view<index_type, host_space> keys) {
  detail::check_dispatch_keys("dispatch_keys", ids, tokens, tokens_per_route, experts, keys);
  const size_type k = ids.cols();
  for (size_type r = 0; r < ids.rows(); ++r)
    for (size_type j = 0; j < k; ++j)
      if (ids(r, j) >= experts)
        detail::fail("dispatch_keys", "ids", detail::concat("expert ids < ", experts), detail::concat(ids(r, j), " at (", r, ", ", j, ")"));
#pragma omp parallel for num_threads(be.threads_for(keys.size())) schedule(static)
  for (size_type t = 0; t < tokens; ++t)
    for (size_type j = 0; j < k; ++j) {
      const index_type e = ids(t / tokens_per_route, j);
      keys[t * k + j] = e < 0 ? static_cast<index_type>(experts) : e;
    }
}

/// From the stable grouping of the keys (group_rows_by_key with experts + 1 groups: offsets of
/// experts + 2 entries, the last group holding the empty choices): for grouped position q <
/// group_offsets[experts], pair_token[q] = permutation[q] / k and pair_choice[q] = permutation[q] % k;
/// later entries get -1. position(t, j) = q of pair (t, j), or -1 for an empty choice.
template <class P, class O>
  requires same_element<P, index_type> && same_element<O, index_type>
void dispatch_pairs(const cpu& be, vector_view<P, host_space> permutation, vector_view<O, host_space> group_offsets, size_type k,
                    vector_view<index_type, host_space> pair_token, vector_view<index_type, host_space> pair_choice,
                    matrix_view<index_type, host_space> position) {
  detail::check_dispatch_pairs("dispatch_pairs", permutation, group_offsets, k, pair_token, pair_choice, position);
  const size_type n = permutation.size();
  const size_type routed = group_offsets[group_offsets.size() - 2];
  if (routed < 0 || routed > n)
    detail::fail("dispatch_pairs", "group_offsets", detail::concat("offsets[experts] in [0, ", n, "]"), routed);
  for (size_type q = 0; q < n; ++q)
    if (permutation[q] < 0 || permutation[q] >= n)
      detail::fail("dispatch_pairs", "permutation", detail::concat("entries in [0, ", n, ")"), detail::concat(permutation[q], " at position ", q));
#pragma omp parallel for num_threads(be.threads_for(n)) schedule(static)
  for (size_type q = 0; q < n; ++q) {
    const index_type p = permutation[q];
    const bool valid = q < routed;
    pair_token[q] = valid ? static_cast<index_type>(p / k) : index_type{-1};
    pair_choice[q] = valid ? static_cast<index_type>(p % k) : index_type{-1};
    position(p / k, p % k) = valid ? static_cast<index_type>(q) : index_type{-1};
  }
}

namespace detail {
template <class P>
void check_positions(const char* fn, const matrix_view<P, host_space>& position, size_type grouped_rows) {
  for (size_type t = 0; t < position.rows(); ++t)
    for (size_type j = 0; j < position.cols(); ++j)
      if (position(t, j) < -1 || position(t, j) >= grouped_rows)
        fail(fn, "position", concat("entries in [-1, ", grouped_rows, ")"), concat(position(t, j), " at (", t, ", ", j, ")"));
}
}  // namespace detail

/// out(t, :) = sum over j = 0 .. k-1 of (lambda * gates(t / L, j)) * y_grouped(position(t, j), :),
/// skipping empty choices, added in that j order from zero: deterministic, no atomics. Tokens
/// without a choice get a zero row.
template <class Y, class P, class G, class T>
  requires same_element<Y, T> && same_element<P, index_type> && same_element<G, T>
void combine_rows(const cpu& be, matrix_view<Y, host_space> y_grouped, matrix_view<P, host_space> position,
                  matrix_view<G, host_space> gates, size_type tokens_per_route, std::type_identity_t<T> lambda,
                  matrix_view<T, host_space> out) {
  detail::check_token_routing("combine_rows", out.rows(), position, gates, tokens_per_route);
  detail::require_extent("combine_rows", "out", "cols (y_grouped.cols)", out.cols(), y_grouped.cols());
  detail::check_positions("combine_rows", position, y_grouped.rows());
#pragma omp parallel for num_threads(be.threads_for(out.size())) schedule(static)
  for (size_type t = 0; t < out.rows(); ++t) {
    T* o = out.row(t);
    for (size_type c = 0; c < out.cols(); ++c) o[c] = T(0);
    for (size_type j = 0; j < position.cols(); ++j) {
      const index_type q = position(t, j);
      if (q < 0) continue;
      const T w = lambda * gates(t / tokens_per_route, j);
      const auto* y = y_grouped.row(q);
      for (size_type c = 0; c < out.cols(); ++c) o[c] += w * y[c];
    }
  }
}

/// dst(q, :) = (lambda * gates(t / L, j)) * src(t, :) with t = pair_token[q], j = pair_choice[q],
/// for q < dst.rows(): the gate-weighted gather of the backward pass (dy of each pair from dout).
template <class Src, class I, class G, class T>
  requires same_element<Src, T> && same_element<I, index_type> && same_element<G, T>
void gather_gated_rows(const cpu& be, matrix_view<Src, host_space> src, vector_view<I, host_space> pair_token,
                       vector_view<I, host_space> pair_choice, matrix_view<G, host_space> gates, size_type tokens_per_route,
                       std::type_identity_t<T> lambda, matrix_view<T, host_space> dst) {
  detail::check_gather_gated("gather_gated_rows", src, pair_token, pair_choice, gates, tokens_per_route, dst);
  for (size_type q = 0; q < dst.rows(); ++q) {
    if (pair_token[q] < 0 || pair_token[q] >= src.rows())
      detail::fail("gather_gated_rows", "pair_token", detail::concat("entries in [0, ", src.rows(), ")"), detail::concat(pair_token[q], " at position ", q));
    if (pair_choice[q] < 0 || pair_choice[q] >= gates.cols())
      detail::fail("gather_gated_rows", "pair_choice", detail::concat("entries in [0, ", gates.cols(), ")"), detail::concat(pair_choice[q], " at position ", q));
  }
#pragma omp parallel for num_threads(be.threads_for(dst.size())) schedule(static)
  for (size_type q = 0; q < dst.rows(); ++q) {
    const index_type t = pair_token[q];
    const T w = lambda * gates(t / tokens_per_route, pair_choice[q]);
    const auto* s = src.row(t);
    T* d = dst.row(q);
    for (size_type c = 0; c < dst.cols(); ++c) d[c] = w * s[c];
  }
}

/// dgates(r, j) = sum over the tokens t of routing row r, in token order, of
/// lambda * <dout(t, :), y_grouped(position(t, j), :)> (empty choices add nothing): dL/dgate for
/// out = lambda * sum_j gate * y. Overwrites dgates.
template <class D, class Y, class P, class T>
  requires same_element<D, T> && same_element<Y, T> && same_element<P, index_type>
void gate_gradients(const cpu& be, matrix_view<D, host_space> dout, matrix_view<Y, host_space> y_grouped,
                    matrix_view<P, host_space> position, size_type tokens_per_route, std::type_identity_t<T> lambda,
                    matrix_view<T, host_space> dgates) {
  detail::check_token_routing("gate_gradients", dout.rows(), position, dgates, tokens_per_route);
  detail::require_extent("gate_gradients", "y_grouped", "cols (dout.cols)", y_grouped.cols(), dout.cols());
  detail::check_positions("gate_gradients", position, y_grouped.rows());
#pragma omp parallel for num_threads(be.threads_for(dout.size())) schedule(static)
  for (size_type r = 0; r < dgates.rows(); ++r)
    for (size_type j = 0; j < dgates.cols(); ++j) {
      T acc = T(0);
      for (size_type t = r * tokens_per_route; t < (r + 1) * tokens_per_route; ++t) {
        const index_type q = position(t, j);
        if (q < 0) continue;
        T dot = T(0);
        for (size_type c = 0; c < dout.cols(); ++c) dot += dout(t, c) * y_grouped(q, c);
        acc += lambda * dot;
      }
      dgates(r, j) = acc;
    }
}

/// The null route: rows whose best score is below `threshold` get no expert (ids -1, gates 0).
template <class S, class T>
  requires same_element<S, T>
void null_route_rows(const cpu& be, matrix_view<S, host_space> scores, std::type_identity_t<T> threshold, matrix_view<T, host_space> gates,
                     matrix_view<index_type, host_space> ids) {
  detail::check_null_route("null_route_rows", scores, gates, ids);
#pragma omp parallel for num_threads(be.threads_for(scores.size())) schedule(static)
  for (size_type r = 0; r < scores.rows(); ++r) detail::null_route_row(scores, static_cast<T>(threshold), gates, ids, r);
}

/// One AdamW step over a parameter's (value, grad, m, v): moe::adamw::update's formula in double.
template <class G, class T>
  requires same_element<G, T>
void adamw_step(const cpu& be, const adamw_coefficients& c, vector_view<T, host_space> value, vector_view<G, host_space> grad,
                vector_view<T, host_space> m, vector_view<T, host_space> v) {
  detail::check_adamw("adamw_step", c, value, grad, m, v);
#pragma omp parallel for num_threads(be.threads_for(value.size())) schedule(static)
  for (size_type i = 0; i < value.size(); ++i) detail::adamw_element(c, value[i], static_cast<T>(grad[i]), m[i], v[i]);
}

}  // namespace beacon
