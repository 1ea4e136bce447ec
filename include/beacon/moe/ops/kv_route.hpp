#pragma once
// KV-anchor routing (inference path) written once over the backend: the computation of
// kv_anchor_router<top_k<K>>::route with one shared projection, on views, so the same code runs on
// beacon::cpu (host views) and beacon::cuda (device views, cuBLAS GEMMs):
//
//   z = e W_down^T                      GEMM              (B x r)
//   v = SiLU(z) W_up^T                  bias_activation + GEMM (B x d_k)
//   scores = v K^T                      GEMM over all keys (B x E); scaled_dot folds 1/sqrt(d_k)
//                                       into the GEMM, cosine normalises the rows of v and K first
//   (gates, ids) = softmax + top-k      the backend's fused softmax_top_k (gate_norm decides
//                                       renormalisation); then the optional null route
//
//   beacon::moe::kv_route(be, {w_down, w_up, keys}, router_options, K, e, {z, v, scores, gates, ids});
//
// Differences from the Eigen router, all at rounding level: the 1/sqrt(d_k) scale is applied inside
// the GEMM (the router divides afterwards), and cosine uses unit rows (a zero row stays zero; the
// router clamps norms at 1e-8). Per-expert projections (projection_mode::per_expert_frozen) and the
// training-time forced route are not covered: they are the router's (CPU) business.

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "../../backend/cpu/activation.hpp"
#include "../../backend/cpu/elementwise.hpp"
#include "../../backend/cpu/gemm.hpp"
#include "../../backend/cpu/moe_kernels.hpp"
#include "../../backend/cpu/softmax_top_k.hpp"
#include "../../core/backend.hpp"
#include "../../core/workspace.hpp"
#include "../kv_anchor_router.hpp"

namespace beacon::moe {

/// The router's parameters as views: W_down (r x d), W_up (d_k x r), the keys stacked (E x d_k).
template <class T, class Space>
struct kv_route_weights {
  matrix_view<const T, Space> w_down, w_up, keys;
};

/// Outputs: the projection's z (B x r) and v (B x d_k), the scores (B x E), and the routing
/// (gates, ids: B x min(k, E), descending; ids -1 / gates 0 for null-routed rows).
template <class T, class Space>
struct kv_route_outputs {
  matrix_view<T, Space> z, v, scores, gates;
  matrix_view<index_type, Space> ids;
};

/// Routes instance embeddings e (B x d) over E = keys.rows experts. Scratch: SiLU(z) (B x r), and
/// for cosine scores unit copies of v and the keys.
template <backend B, class T>
void kv_route(const B& be, const kv_route_weights<T, typename B::memory_space>& w, const kv_router_options& opt, size_type k,
              matrix_view<const T, typename B::memory_space> e, const kv_route_outputs<T, typename B::memory_space>& out) {
  using space = typename B::memory_space;
  const char* fn = "moe::kv_route";
  if (opt.projection != projection_mode::shared_retrained)
    beacon::detail::fail(fn, "options.projection", "shared_retrained (per-expert projections are the Eigen router's)", "per_expert_frozen");
  if (k < 1) beacon::detail::fail(fn, "k", ">= 1", k);
  const size_type rows = e.rows(), rank = w.w_down.rows(), key_dim = w.w_up.rows(), experts = w.keys.rows();
  if (experts < 1) beacon::detail::fail(fn, "weights.keys", "at least one row (expert)", "0 rows");
  beacon::detail::require_extent(fn, "weights.w_down", "cols (e.cols)", w.w_down.cols(), e.cols());
  beacon::detail::require_extent(fn, "weights.w_up", "cols (w_down.rows)", w.w_up.cols(), rank);
  beacon::detail::require_extent(fn, "weights.keys", "cols (w_up.rows)", w.keys.cols(), key_dim);
  beacon::detail::require_extent(fn, "outputs.z", "rows (e.rows)", out.z.rows(), rows);
  beacon::detail::require_extent(fn, "outputs.z", "cols (w_down.rows)", out.z.cols(), rank);
  beacon::detail::require_extent(fn, "outputs.v", "rows (e.rows)", out.v.rows(), rows);
  beacon::detail::require_extent(fn, "outputs.v", "cols (w_up.rows)", out.v.cols(), key_dim);
  beacon::detail::require_extent(fn, "outputs.scores", "rows (e.rows)", out.scores.rows(), rows);
  beacon::detail::require_extent(fn, "outputs.scores", "cols (keys.rows)", out.scores.cols(), experts);
  const size_type chosen = std::min(k, experts);  // as the router: k is clipped to the experts that exist
  beacon::detail::require_extent(fn, "outputs.gates", "rows (e.rows)", out.gates.rows(), rows);
  beacon::detail::require_extent(fn, "outputs.gates", "cols (min(k, experts))", out.gates.cols(), chosen);
  beacon::detail::require_same_shape(fn, "outputs.ids", out.gates, out.ids);
  if (rows == 0) return;

  const bool cosine = opt.score == score_function::cosine;
  auto arena = be.scratch(workspace_layout()
                              .template add<T>(rows * rank)
                              .template add<T>(cosine ? rows * key_dim : 0)
                              .template add<T>(cosine ? experts * key_dim : 0)
                              .bytes());
  const auto silu_z = arena.template take<T>(rows * rank).as_matrix(rows, rank);
  const vector_view<const T, space> no_bias;

  gemm(be, transpose::no, transpose::yes, T(1), e, w.w_down, T(0), out.z);
  bias_activation(be, activation::silu, no_bias, out.z, silu_z);
  gemm(be, transpose::no, transpose::yes, T(1), matrix_view<const T, space>(silu_z), w.w_up, T(0), out.v);
  if (cosine) {
    const auto unit_v = arena.template take<T>(rows * key_dim).as_matrix(rows, key_dim);
    const auto unit_keys = arena.template take<T>(experts * key_dim).as_matrix(experts, key_dim);
    normalize_rows(be, matrix_view<const T, space>(out.v), unit_v);
    normalize_rows(be, w.keys, unit_keys);
    gemm(be, transpose::no, transpose::yes, T(1), matrix_view<const T, space>(unit_v), matrix_view<const T, space>(unit_keys), T(0),
         out.scores);
  } else {
    const T scale = opt.score == score_function::scaled_dot ? T(1) / std::sqrt(static_cast<T>(key_dim)) : T(1);
    gemm(be, transpose::no, transpose::yes, scale, matrix_view<const T, space>(out.v), w.keys, T(0), out.scores);
  }
  softmax_top_k(be, matrix_view<const T, space>(out.scores), chosen, opt.gate == gate_norm::renormalize_top_k, out.gates, out.ids);
  if (opt.null_route)
    null_route_rows(be, matrix_view<const T, space>(out.scores), static_cast<T>(opt.null_threshold), out.gates, out.ids);
}

/// The router state's keys stacked into one E x d_k row-major array (host), for kv_route_weights.
template <class T, class RouterState>
std::vector<T> stacked_keys(const RouterState& s) {
  std::vector<T> keys;
  keys.reserve(s.keys.size() * static_cast<std::size_t>(s.key_dim));
  for (const auto& key : s.keys) keys.insert(keys.end(), key.value.begin(), key.value.end());
  return keys;
}

}  // namespace beacon::moe
