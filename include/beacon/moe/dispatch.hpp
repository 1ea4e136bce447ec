// SPDX-License-Identifier: Apache-2.0
#pragma once
// Expert dispatch on any backend: the (token, choice) pairs of a routing grouped by expert (expert,
// then token, then choice: a stable sort), the token rows gathered into one expert-grouped buffer,
// and the gate-weighted combine back; and the backward of both. Built from the backend's generic
// primitives (group_rows_by_key, gather_rows, row_dot, copy) and the functors of
// kernels/row_kernels.hpp run by for_each_index / for_each_element.
//
//   grouped_dispatch<space> d{offsets, pair_token, pair_choice, position};   // caller's memory
//   group_pairs_by_expert(be, ids, tokens, routes, experts, d);   // routes: L, or ragged (token_routes.hpp)
//   const auto host_offsets = download(be, d.offsets);  // the one host round trip: GEMM sizes
//   gather_pairs(be, x, d, x_grouped.row_block(0, host_offsets.back()));
//   ... grouped expert forward (grouped_expert.hpp) ...
//   combine_pairs(be, y_grouped, d, gates, routes, lambda, out);
//
// Combine is out[t] = lambda * sum_j gate(row(t), j) * y_grouped[position(t, j)], added in j order
// (no atomics): deterministic on every backend. row(t) is the routing row of token t: t / L for
// sequences of one length L, or the sequence owning t in a ragged batch (token_routes.hpp).

#include <type_traits>

#include "../backend/checks.hpp"
#include "../core/backend.hpp"
#include "../core/workspace.hpp"
#include "kernels/row_kernels.hpp"
#include "token_routes.hpp"

namespace beacon::moe {

/// Caller-owned dispatch arrays for `tokens` tokens with k choices and E experts.
template <class Space>
struct grouped_dispatch {
  vector_view<index_type, Space> offsets;      ///< E + 1: pairs of expert e are grouped rows [offsets[e], offsets[e+1])
  vector_view<index_type, Space> pair_token;   ///< tokens * k: token of grouped row q (-1 past offsets[E])
  vector_view<index_type, Space> pair_choice;  ///< tokens * k: which choice grouped row q is (-1 past offsets[E])
  matrix_view<index_type, Space> position;     ///< tokens x k: grouped row of pair (t, j), -1 for an empty choice
};

/// Groups the pairs of routing `ids` (R x k, -1 = no expert) by expert; token t uses routing row
/// routes.row(t) (t / L when uniform). Nothing is synchronised; offsets stay on the backend.
/// Scratch: 2 tokens*k + E + 2 indices.
/// Scratch bytes group_pairs_by_expert needs for tokens x k routed pairs over `experts` experts.
inline std::size_t group_pairs_workspace_bytes(size_type pairs, size_type experts) {
  return workspace_layout().template add<index_type>(pairs).template add<index_type>(pairs).template add<index_type>(experts + 2).bytes();
}

template <backend B>
void group_pairs_by_expert(const B& be, matrix_view<const index_type, typename B::memory_space> ids, size_type tokens,
                           token_routes<typename B::memory_space> routes, size_type experts,
                           const grouped_dispatch<typename B::memory_space>& out, workspace_arena<typename B::memory_space>& workspace) {
  using space = typename B::memory_space;
  const char* fn = "moe::group_pairs_by_expert";
  const size_type k = ids.cols();
  if (k < 1) beacon::fail<shape_error>(fn, "ids", "at least one column (k >= 1)", "0 columns");
  if (experts < 1) beacon::fail(fn, "experts", ">= 1", experts);
  if (!routes.ragged()) {
    if (routes.tokens_per_route < 1) beacon::fail(fn, "tokens_per_route", ">= 1", routes.tokens_per_route);
    if (ids.rows() * routes.tokens_per_route != tokens)
      beacon::fail<shape_error>(fn, "ids", beacon::concat("rows = tokens / tokens_per_route (", tokens, " / ", routes.tokens_per_route, ")"),
                                ids.rows());
  }
  beacon::require_extent(fn, "out.offsets", "size (experts + 1)", out.offsets.size(), experts + 1);
  beacon::require_extent(fn, "out.pair_token", "size (tokens * k)", out.pair_token.size(), tokens * k);
  beacon::require_extent(fn, "out.pair_choice", "size (tokens * k)", out.pair_choice.size(), tokens * k);
  beacon::require_extent(fn, "out.position", "rows (tokens)", out.position.rows(), tokens);
  beacon::require_extent(fn, "out.position", "cols (k)", out.position.cols(), k);
  const size_type pairs = tokens * k;
  const auto keys = workspace.template take<index_type>(pairs);
  const auto permutation = workspace.template take<index_type>(pairs);
  const auto group_offsets = workspace.template take<index_type>(experts + 2);
  for_each_index(be, pairs, kernels::dispatch_key<space>{ids, keys, k, routes, experts});
  group_rows_by_key(be, vector_view<const index_type, space>(keys), experts + 1, group_offsets, permutation);
  for_each_index(be, pairs,
                 kernels::dispatch_pair<space>{vector_view<const index_type, space>(permutation), group_offsets.data() + experts, k,
                                               out.pair_token, out.pair_choice, out.position});
  copy(be, vector_view<const index_type, space>(group_offsets.data(), experts + 1), out.offsets);
}

/// As above with scratch from the backend's own arena (be.scratch()).
template <backend B>
void group_pairs_by_expert(const B& be, matrix_view<const index_type, typename B::memory_space> ids, size_type tokens,
                           token_routes<typename B::memory_space> routes, size_type experts,
                           const grouped_dispatch<typename B::memory_space>& out) {
  auto workspace = be.scratch(group_pairs_workspace_bytes(tokens * ids.cols(), experts));
  group_pairs_by_expert(be, ids, tokens, routes, experts, out, workspace);
}

/// x_grouped(q, :) = x(pair_token[q], :) for the first x_grouped.rows() grouped pairs (pass the
/// number of routed pairs, offsets[E], as the row count).
template <backend B, class T>
void gather_pairs(const B& be, matrix_view<const T, typename B::memory_space> x, const grouped_dispatch<typename B::memory_space>& d,
                  matrix_view<T, typename B::memory_space> x_grouped) {
  using space = typename B::memory_space;
  if (x_grouped.rows() > d.pair_token.size())
    beacon::fail<shape_error>("moe::gather_pairs", "x_grouped", beacon::concat("rows <= pairs (", d.pair_token.size(), ")"),
                                      x_grouped.rows());
  gather_rows(be, x, vector_view<const index_type, space>(d.pair_token.data(), x_grouped.rows()), x_grouped);
}

/// out(t, :) = lambda * sum_j gates(row(t), j) * y_grouped(position(t, j), :) (zero rows for tokens
/// without an expert).
template <backend B, class T>
void combine_pairs(const B& be, matrix_view<const T, typename B::memory_space> y_grouped, const grouped_dispatch<typename B::memory_space>& d,
                   matrix_view<const T, typename B::memory_space> gates, token_routes<typename B::memory_space> routes,
                   std::type_identity_t<T> lambda, matrix_view<T, typename B::memory_space> out) {
  using space = typename B::memory_space;
  const char* fn = "moe::combine_pairs";
  beacon::require_extent(fn, "out", "rows (position.rows)", out.rows(), d.position.rows());
  beacon::require_extent(fn, "out", "cols (y_grouped.cols)", out.cols(), y_grouped.cols());
  beacon::require_extent(fn, "gates", "cols (k)", gates.cols(), d.position.cols());
  if (!routes.ragged()) beacon::require_extent(fn, "gates", "rows (tokens / tokens_per_route)", gates.rows() * routes.tokens_per_route, out.rows());
  for_each_element(be, out.rows(), out.cols(),
                   kernels::combine<T, space>{y_grouped, matrix_view<const index_type, space>(d.position), gates, routes,
                                              static_cast<T>(lambda), out});
}

// ---- backward --------------------------------------------------------------------------------

/// dy_grouped(q, :) = lambda * gates(row(t), j) * dout(t, :) for grouped pair q = (t, j): the
/// gradient each expert receives (pass offsets[E] rows).
template <backend B, class T>
void gather_gated_pairs(const B& be, matrix_view<const T, typename B::memory_space> dout, const grouped_dispatch<typename B::memory_space>& d,
                        matrix_view<const T, typename B::memory_space> gates, token_routes<typename B::memory_space> routes,
                        std::type_identity_t<T> lambda, matrix_view<T, typename B::memory_space> dy_grouped) {
  using space = typename B::memory_space;
  beacon::require_extent("moe::gather_gated_pairs", "dy_grouped", "cols (dout.cols)", dy_grouped.cols(), dout.cols());
  for_each_element(be, dy_grouped.rows(), dy_grouped.cols(),
                   kernels::gather_gated<T, space>{dout, vector_view<const index_type, space>(d.pair_token),
                                                   vector_view<const index_type, space>(d.pair_choice), gates, routes,
                                                   static_cast<T>(lambda), dy_grouped});
}

/// dgates(r, j) = sum over routing row r's tokens t (in order) of lambda * <dout(t), y_grouped(position(t, j))>:
/// dL/dgate for the router's backward. `routed` = offsets[E] (host). Scratch
/// (pair_gate_gradients_workspace_bytes<T>(routed, d)) from `workspace`.
template <class T>
std::size_t pair_gate_gradients_workspace_bytes(size_type routed, size_type cols) {
  return workspace_layout().template add<T>(routed * cols).template add<T>(routed).bytes();
}

template <backend B, class T>
void pair_gate_gradients(const B& be, matrix_view<const T, typename B::memory_space> dout,
                         matrix_view<const T, typename B::memory_space> y_grouped, const grouped_dispatch<typename B::memory_space>& d,
                         size_type routed, token_routes<typename B::memory_space> routes, std::type_identity_t<T> lambda,
                         matrix_view<T, typename B::memory_space> dgates, workspace_arena<typename B::memory_space>& workspace) {
  using space = typename B::memory_space;
  const size_type cols = dout.cols();
  const auto rows = workspace.template take<T>(routed * cols).as_matrix(routed, cols);
  const auto dots = workspace.template take<T>(routed);
  if (routed > 0) {
    gather_rows(be, dout, vector_view<const index_type, space>(d.pair_token.data(), routed), rows);
    row_dot(be, matrix_view<const T, space>(rows), y_grouped.row_block(0, routed), dots);
  }
  for_each_index(be, dgates.rows() * dgates.cols(),
                 kernels::sum_pair_dots<T, space>{vector_view<const T, space>(dots), matrix_view<const index_type, space>(d.position),
                                                  routes, static_cast<T>(lambda), dgates},
                 dgates.rows() > 0 ? dout.rows() / dgates.rows() + 1 : 1);
}

/// As above with scratch from the backend's own arena (be.scratch()).
template <backend B, class T>
void pair_gate_gradients(const B& be, matrix_view<const T, typename B::memory_space> dout,
                         matrix_view<const T, typename B::memory_space> y_grouped, const grouped_dispatch<typename B::memory_space>& d,
                         size_type routed, token_routes<typename B::memory_space> routes, std::type_identity_t<T> lambda,
                         matrix_view<T, typename B::memory_space> dgates) {
  auto workspace = be.scratch(pair_gate_gradients_workspace_bytes<T>(routed, dout.cols()));
  pair_gate_gradients(be, dout, y_grouped, d, routed, routes, lambda, dgates, workspace);
}

}  // namespace beacon::moe
