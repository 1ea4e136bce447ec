// SPDX-License-Identifier: Apache-2.0
#pragma once
// Routing vocabulary shared by the router policies: top-k as a type, gate normalisation, what a
// forward pass asks of a router, the routing buffers a router fills (scores, softmax, chosen ids
// and gates, on the backend), and the softmax / top-k / gate-gradient steps every router uses.

#include <algorithm>
#include <cstdint>
#include <string>

#include "../backend/checks.hpp"
#include "../core/activation.hpp"
#include "../core/backend.hpp"
#include "../core/philox.hpp"
#include "kernels/row_kernels.hpp"
#include "parameter.hpp"

namespace beacon::moe {

/// Number of experts each instance (or token) is routed to, as a type: kv_anchor_router<top_k<1>>.
template <size_type K>
struct top_k {
  static_assert(K >= 1, "beacon::moe::top_k: K must be >= 1");
  static constexpr size_type value = K;
};

enum class gate_norm {
  softmax_all_experts,  ///< gate = softmax over every existing expert, selected, not renormalised (paper; spec A6)
  renormalize_top_k,    ///< gates of the selected experts rescaled to sum to 1 (top-1 gate = 1: no router gradient)
};

/// What a forward pass asks of the router.
struct route_request {
  index_type forced = -1;      ///< >= 0: route every row's first choice to this expert (an editing step's own batch)
  bool training = false;       ///< enables router noise (softmax_topk_router)
  std::uint64_t noise_call = 0;  ///< distinct per training forward, so every call draws fresh noise
};

/// Routing of `rows` rows (instances or tokens) over `experts` experts with k = min(K, experts)
/// choices, held by the backend: scores and softmax probabilities (rows x experts), chosen ids
/// (descending probability, -1 = no expert) and gates (rows x k).
template <class T, class B>
struct routing {
  using space = typename B::memory_space;
  size_type rows = 0, experts = 0, k = 0;
  buffer_t<T, B> score_buffer, prob_buffer, gate_buffer;
  buffer_t<index_type, B> id_buffer;

  void resize(const B& be, size_type r, size_type e, size_type kk) {
    rows = r;
    experts = e;
    k = kk;
    reserve_buffer<T, B>(be, score_buffer, r * e);
    reserve_buffer<T, B>(be, prob_buffer, r * e);
    reserve_buffer<T, B>(be, gate_buffer, r * kk);
    reserve_buffer<index_type, B>(be, id_buffer, r * kk);
  }
  matrix_view<T, space> scores() { return {score_buffer.view().data(), rows, experts}; }
  matrix_view<T, space> probs() { return {prob_buffer.view().data(), rows, experts}; }
  matrix_view<T, space> gates() { return {gate_buffer.view().data(), rows, k}; }
  matrix_view<index_type, space> ids() { return {id_buffer.view().data(), rows, k}; }
  matrix_view<const T, space> scores() const { return {score_buffer.view().data(), rows, experts}; }
  matrix_view<const T, space> probs() const { return {prob_buffer.view().data(), rows, experts}; }
  matrix_view<const T, space> gates() const { return {gate_buffer.view().data(), rows, k}; }
  matrix_view<const index_type, space> ids() const { return {id_buffer.view().data(), rows, k}; }
};

/// Fills a parameter with scale * N(0, 1) drawn from Philox stream (seed, stream_id << 40): the
/// insertion-time initialisation of experts, keys and projections (same values on every backend).
template <class T, class B>
void init_normal(const B& be, parameter<T, B>& p, std::uint64_t seed, std::uint64_t stream_id, double scale) {
  using space = typename B::memory_space;
  if (p.size() == 0) return;
  fill_normal(be, philox_stream{seed, stream_id << 40}, p.value());
  for_each_element(be, p.rows(), p.cols(), kernels::scaled_copy<T, space>{p.value(), static_cast<T>(scale), p.value()});
}

namespace detail {

/// probs = softmax(scores) per row; ids / gates = the top-k of it (ties to the lower expert),
/// renormalised or not.
template <class T, class B>
void softmax_select(const B& be, routing<T, B>& r, gate_norm norm) {
  using space = typename B::memory_space;
  if (r.rows == 0) return;
  row_softmax(be, matrix_view<const T, space>(r.scores()), r.probs());
  softmax_top_k(be, matrix_view<const T, space>(r.scores()), r.k, norm == gate_norm::renormalize_top_k, r.gates(), r.ids());
}

/// ds (rows x experts) = dL/dscores from dL/dgates (rows x k) through the gate normalisation.
template <class T, class B>
void score_gradient(const B& be, const routing<T, B>& r, matrix_view<const T, typename B::memory_space> dgates, gate_norm norm,
                    matrix_view<T, typename B::memory_space> ds) {
  using space = typename B::memory_space;
  for_each_index(be, r.rows, kernels::score_gradient<T, space>{r.scores(), r.probs(), r.ids(), dgates, norm == gate_norm::renormalize_top_k, ds},
                 r.experts + r.k);
}

/// dst = src (any leading dimensions, same shape).
template <class T, class B>
void copy_matrix(const B& be, matrix_view<const T, typename B::memory_space> src, matrix_view<T, typename B::memory_space> dst) {
  using space = typename B::memory_space;
  beacon::require_same_shape("moe::copy_matrix", "dst", src, dst);
  for_each_element(be, src.rows(), src.cols(), kernels::scaled_copy<T, space>{src, T(1), dst});
}

}  // namespace detail
}  // namespace beacon::moe
