#pragma once
// The MoE adaptor's row kernels on the CUDA backend: the CPU backend's contracts, argument checks
// and messages (backend/cpu/moe_kernels.hpp), computed in the same fixed orders. No float atomics:
// combine adds a token's choices in j order, the gate gradient sums an instance's tokens in order
// (each dot product by one warp with a fixed butterfly), so results are identical run to run.
//
// Element checks that need the data (expert ids >= experts, positions and pair indices out of
// range) are the CPU backend's alone: they would cost a copy and a synchronisation. Here an id >=
// experts counts as "no expert", and out-of-range positions or pair indices are skipped (their rows
// are neither read nor written), never an out-of-bounds access.

#include "../../moe/ops/contracts.hpp"
#include "launch.cuh"

namespace beacon {

namespace detail {

template <class I>
__global__ void __launch_bounds__(block_threads)
    dispatch_keys_kernel(matrix_view<I, device_space> ids, size_type tokens, size_type tokens_per_route, size_type experts,
                         vector_view<index_type, device_space> keys) {
  const size_type k = ids.cols();
  for (size_type p = first_item(); p < tokens * k; p += item_step()) {
    const index_type e = ids(p / k / tokens_per_route, p % k);
    keys[p] = (e < 0 || e >= experts) ? static_cast<index_type>(experts) : e;
  }
}

template <class P, class O>
__global__ void __launch_bounds__(block_threads)
    dispatch_pairs_kernel(vector_view<P, device_space> permutation, const O* routed_end, size_type k,
                          vector_view<index_type, device_space> pair_token, vector_view<index_type, device_space> pair_choice,
                          matrix_view<index_type, device_space> position) {
  const size_type n = permutation.size();
  const size_type routed = static_cast<size_type>(*routed_end);
  for (size_type q = first_item(); q < n; q += item_step()) {
    const size_type p = static_cast<size_type>(permutation[q]);
    const bool valid = q < routed;
    pair_token[q] = valid ? static_cast<index_type>(p / k) : index_type{-1};
    pair_choice[q] = valid ? static_cast<index_type>(p % k) : index_type{-1};
    if (p >= 0 && p < n) position(p / k, p % k) = valid ? static_cast<index_type>(q) : index_type{-1};
  }
}

template <class Y, class P, class G, class T>
__global__ void __launch_bounds__(block_threads)
    combine_rows_kernel(matrix_view<Y, device_space> y, matrix_view<P, device_space> position, matrix_view<G, device_space> gates,
                        size_type tokens_per_route, T lambda, matrix_view<T, device_space> out) {
  for (size_type t = first_row(); t < out.rows(); t += row_step())
    for (size_type c = first_col(); c < out.cols(); c += col_step()) {
      T acc = T(0);
      for (size_type j = 0; j < position.cols(); ++j) {
        const size_type q = position(t, j);
        if (q < 0 || q >= y.rows()) continue;
        acc += (lambda * gates(t / tokens_per_route, j)) * y(q, c);
      }
      out(t, c) = acc;
    }
}

template <class Src, class I, class G, class T>
__global__ void __launch_bounds__(block_threads)
    gather_gated_rows_kernel(matrix_view<Src, device_space> src, vector_view<I, device_space> pair_token,
                             vector_view<I, device_space> pair_choice, matrix_view<G, device_space> gates, size_type tokens_per_route,
                             T lambda, matrix_view<T, device_space> dst) {
  for (size_type q = first_row(); q < dst.rows(); q += row_step()) {
    const size_type t = pair_token[q], j = pair_choice[q];
    if (t < 0 || t >= src.rows() || j < 0 || j >= gates.cols()) continue;
    const T w = lambda * gates(t / tokens_per_route, j);
    for (size_type c = first_col(); c < dst.cols(); c += col_step()) dst(q, c) = w * src(t, c);
  }
}

/// One warp per (routing row, choice): lanes stride the columns of each dot product, a butterfly
/// sums them (every lane gets the same bits), and the tokens are added in order.
template <class D, class Y, class P, class T>
__global__ void __launch_bounds__(block_threads)
    gate_gradients_kernel(matrix_view<D, device_space> dout, matrix_view<Y, device_space> y, matrix_view<P, device_space> position,
                          size_type tokens_per_route, T lambda, matrix_view<T, device_space> dgates) {
  const row_group g = make_row_group(warp_threads);
  const size_type k = dgates.cols(), pairs = dgates.rows() * k;
  for (size_type base = g.first; base < pairs; base += g.step) {
    const size_type rj = base + g.group;  // == base: one row per warp, so the loop is warp-uniform
    const size_type r = rj / k, j = rj % k;
    T acc = T(0);
    for (size_type t = r * tokens_per_route; t < (r + 1) * tokens_per_route; ++t) {
      const size_type q = position(t, j);
      if (q < 0 || q >= y.rows()) continue;
      T dot = T(0);
      for (size_type c = g.sub; c < dout.cols(); c += warp_threads) dot += dout(t, c) * y(q, c);
      acc += lambda * group_sum(dot, warp_threads);
    }
    if (g.sub == 0) dgates(r, j) = acc;
  }
}

template <class S, class T>
__global__ void __launch_bounds__(block_threads)
    null_route_rows_kernel(matrix_view<S, device_space> scores, T threshold, matrix_view<T, device_space> gates,
                           matrix_view<index_type, device_space> ids) {
  for (size_type r = first_item(); r < scores.rows(); r += item_step()) null_route_row(scores, threshold, gates, ids, r);
}

template <class G, class T>
__global__ void __launch_bounds__(block_threads)
    adamw_step_kernel(adamw_coefficients c, vector_view<T, device_space> value, vector_view<G, device_space> grad,
                      vector_view<T, device_space> m, vector_view<T, device_space> v) {
  for (size_type i = first_item(); i < value.size(); i += item_step()) adamw_element(c, value[i], static_cast<T>(grad[i]), m[i], v[i]);
}

}  // namespace detail

/// keys[t * k + j] = ids(t / tokens_per_route, j), or `experts` for an empty choice (negative id;
/// on this backend also an id >= experts, which the CPU backend rejects).
template <class I>
  requires same_element<I, index_type>
void dispatch_keys(const cuda& be, matrix_view<I, device_space> ids, size_type tokens, size_type tokens_per_route, size_type experts,
                   vector_view<index_type, device_space> keys) {
  detail::check_dispatch_keys("dispatch_keys", ids, tokens, tokens_per_route, experts, keys);
  if (keys.empty()) return;
  detail::dispatch_keys_kernel<<<detail::grid_size(be, keys.size(), detail::block_threads), detail::block_threads, 0, be.stream()>>>(
      ids, tokens, tokens_per_route, experts, keys);
  detail::check_launch("dispatch_keys");
}

/// Pair lists and inverse positions from the stable grouping of the keys (see the CPU backend).
/// group_offsets[experts] is read on the device: no host round trip.
template <class P, class O>
  requires same_element<P, index_type> && same_element<O, index_type>
void dispatch_pairs(const cuda& be, vector_view<P, device_space> permutation, vector_view<O, device_space> group_offsets, size_type k,
                    vector_view<index_type, device_space> pair_token, vector_view<index_type, device_space> pair_choice,
                    matrix_view<index_type, device_space> position) {
  detail::check_dispatch_pairs("dispatch_pairs", permutation, group_offsets, k, pair_token, pair_choice, position);
  if (permutation.empty()) return;
  detail::dispatch_pairs_kernel<<<detail::grid_size(be, permutation.size(), detail::block_threads), detail::block_threads, 0,
                                  be.stream()>>>(permutation, group_offsets.data() + (group_offsets.size() - 2), k, pair_token,
                                                 pair_choice, position);
  detail::check_launch("dispatch_pairs");
}

/// out(t, :) = sum over j in order of (lambda * gates(t / L, j)) * y_grouped(position(t, j), :).
template <class Y, class P, class G, class T>
  requires same_element<Y, T> && same_element<P, index_type> && same_element<G, T>
void combine_rows(const cuda& be, matrix_view<Y, device_space> y_grouped, matrix_view<P, device_space> position,
                  matrix_view<G, device_space> gates, size_type tokens_per_route, std::type_identity_t<T> lambda,
                  matrix_view<T, device_space> out) {
  detail::check_token_routing("combine_rows", out.rows(), position, gates, tokens_per_route);
  detail::require_extent("combine_rows", "out", "cols (y_grouped.cols)", out.cols(), y_grouped.cols());
  if (out.empty()) return;
  const auto g = detail::matrix_grid(be, out.rows(), out.cols());
  detail::combine_rows_kernel<<<g.grid, g.block, 0, be.stream()>>>(y_grouped, position, gates, tokens_per_route, static_cast<T>(lambda), out);
  detail::check_launch("combine_rows");
}

/// dst(q, :) = (lambda * gates(t / L, j)) * src(t, :) for pair q = (t, j), q < dst.rows().
template <class Src, class I, class G, class T>
  requires same_element<Src, T> && same_element<I, index_type> && same_element<G, T>
void gather_gated_rows(const cuda& be, matrix_view<Src, device_space> src, vector_view<I, device_space> pair_token,
                       vector_view<I, device_space> pair_choice, matrix_view<G, device_space> gates, size_type tokens_per_route,
                       std::type_identity_t<T> lambda, matrix_view<T, device_space> dst) {
  detail::check_gather_gated("gather_gated_rows", src, pair_token, pair_choice, gates, tokens_per_route, dst);
  if (dst.empty()) return;
  const auto g = detail::matrix_grid(be, dst.rows(), dst.cols());
  detail::gather_gated_rows_kernel<<<g.grid, g.block, 0, be.stream()>>>(src, pair_token, pair_choice, gates, tokens_per_route,
                                                                        static_cast<T>(lambda), dst);
  detail::check_launch("gather_gated_rows");
}

/// dgates(r, j) = sum over routing row r's tokens, in order, of lambda * <dout(t), y_grouped(position(t, j))>.
template <class D, class Y, class P, class T>
  requires same_element<D, T> && same_element<Y, T> && same_element<P, index_type>
void gate_gradients(const cuda& be, matrix_view<D, device_space> dout, matrix_view<Y, device_space> y_grouped,
                    matrix_view<P, device_space> position, size_type tokens_per_route, std::type_identity_t<T> lambda,
                    matrix_view<T, device_space> dgates) {
  detail::check_token_routing("gate_gradients", dout.rows(), position, dgates, tokens_per_route);
  detail::require_extent("gate_gradients", "y_grouped", "cols (dout.cols)", y_grouped.cols(), dout.cols());
  if (dgates.empty()) return;
  detail::gate_gradients_kernel<<<detail::row_group_grid(be, dgates.size(), detail::warp_threads), detail::block_threads, 0,
                                  be.stream()>>>(dout, y_grouped, position, tokens_per_route, static_cast<T>(lambda), dgates);
  detail::check_launch("gate_gradients");
}

/// Rows whose best score is below `threshold` get no expert (ids -1, gates 0).
template <class S, class T>
  requires same_element<S, T>
void null_route_rows(const cuda& be, matrix_view<S, device_space> scores, std::type_identity_t<T> threshold,
                     matrix_view<T, device_space> gates, matrix_view<index_type, device_space> ids) {
  detail::check_null_route("null_route_rows", scores, gates, ids);
  if (scores.rows() == 0) return;
  detail::null_route_rows_kernel<<<detail::grid_size(be, scores.rows(), detail::block_threads), detail::block_threads, 0, be.stream()>>>(
      scores, static_cast<T>(threshold), gates, ids);
  detail::check_launch("null_route_rows");
}

/// One AdamW step over (value, grad, m, v): moe::adamw::update's formula in double (nvcc may fuse
/// multiply-adds, so results agree with the CPU to double rounding before the cast to T).
template <class G, class T>
  requires same_element<G, T>
void adamw_step(const cuda& be, const adamw_coefficients& c, vector_view<T, device_space> value, vector_view<G, device_space> grad,
                vector_view<T, device_space> m, vector_view<T, device_space> v) {
  detail::check_adamw("adamw_step", c, value, grad, m, v);
  if (value.empty()) return;
  detail::adamw_step_kernel<<<detail::grid_size(be, value.size(), detail::block_threads), detail::block_threads, 0, be.stream()>>>(
      c, value, grad, m, v);
  detail::check_launch("adamw_step");
}

}  // namespace beacon
