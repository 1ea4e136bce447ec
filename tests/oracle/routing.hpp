// SPDX-License-Identifier: Apache-2.0
#pragma once
// Routing vocabulary shared by the router policies: top-k as a type, gate normalisation, the
// routing result, and the softmax / top-k / gate-gradient math both routers use.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <beacon/backend/cpu/softmax_top_k.hpp>
#include <beacon/core/eigen.hpp>
#include "parameter.hpp"

#include <beacon/moe/routing.hpp>  // the option vocabulary

namespace beacon::oracle {

/// Number of experts each instance (or token) is routed to, as a type: kv_anchor_router<top_k<1>>.
template <size_type K>
struct top_k {
  static_assert(K >= 1, "beacon::moe::top_k: K must be >= 1");
  static constexpr size_type value = K;
};

using moe::gate_norm;

/// Routing of B rows (instances or tokens) over t experts.
template <class T>
struct routing_result {
  size_type rows = 0, experts = 0, k = 0;
  row_matrix<T> scores, probs;       ///< B x t
  std::vector<index_type> ids;       ///< B x k, descending probability; -1 = not routed (null route)
  std::vector<T> gates;              ///< B x k
  [[nodiscard]] index_type id(size_type b, size_type j) const { return ids[static_cast<std::size_t>(b * k + j)]; }
  [[nodiscard]] T gate(size_type b, size_type j) const { return gates[static_cast<std::size_t>(b * k + j)]; }
};

namespace detail {

/// probs = softmax(scores) per row (max-subtracted), then top-k ids (ties to the lower index) and
/// gates under `norm`. k is clipped to the number of experts.
template <class T>
void select(routing_result<T>& r, size_type k, gate_norm norm) {
  const size_type t = r.scores.cols();
  r.rows = r.scores.rows();
  r.experts = t;
  r.k = std::min(k, t);
  r.probs.resize(r.rows, t);
  r.ids.assign(static_cast<std::size_t>(r.rows * r.k), -1);
  r.gates.assign(static_cast<std::size_t>(r.rows * r.k), T(0));
  r.probs = (r.scores.colwise() - r.scores.rowwise().maxCoeff()).array().exp().matrix();
  r.probs.array().colwise() /= r.probs.rowwise().sum().array();
  std::vector<index_type> order;
  std::vector<T> top(static_cast<std::size_t>(r.k));
  for (size_type b = 0; b < r.rows; ++b) {
    // Top-k by probability, ties to the lower expert index (the CPU backend's row top-k).
    beacon::detail::row_top_k_into(r.probs.row(b).data(), t, r.k, top.data(), r.ids.data() + b * r.k, order);
    T selected = 0;
    for (size_type j = 0; j < r.k; ++j) selected += top[static_cast<std::size_t>(j)];
    for (size_type j = 0; j < r.k; ++j)
      r.gates[static_cast<std::size_t>(b * r.k + j)] = norm == gate_norm::renormalize_top_k ? top[static_cast<std::size_t>(j)] / selected
                                                                                            : top[static_cast<std::size_t>(j)];
  }
}

/// dL/dscores from dL/dgates (B x k) through the gate normalisation and the softmax.
/// Renormalised gates g_j = p_j / sum_sel p are a softmax over the selected scores, so
/// dL/ds_l = g_l (dL/dg_l - sum_j g_j dL/dg_j) on the selected set and 0 elsewhere. g is taken
/// from the selected scores (max-subtracted), never as p_j / sum_sel p: that divides by a mass
/// which underflows to 0 when forced routing picks an expert of negligible probability, and the
/// resulting NaN poisoned the router weights. Routers zero dL/dgates for gates they hold constant.
template <class T>
row_matrix<T> score_gradient(const routing_result<T>& r, const std::vector<T>& dgates, gate_norm norm) {
  row_matrix<T> ds = row_matrix<T>::Zero(r.rows, r.experts);
  Eigen::Matrix<T, 1, Eigen::Dynamic> dp(r.experts);
  std::vector<T> g(static_cast<std::size_t>(r.k));
  for (size_type b = 0; b < r.rows; ++b) {
    const auto dg = [&](size_type j) { return dgates[static_cast<std::size_t>(b * r.k + j)]; };
    if (norm == gate_norm::softmax_all_experts) {
      dp.setZero();
      for (size_type j = 0; j < r.k; ++j)
        if (r.id(b, j) >= 0) dp(r.id(b, j)) += dg(j);
      const T inner = dp.dot(r.probs.row(b));
      ds.row(b) = r.probs.row(b).cwiseProduct((dp.array() - inner).matrix());
      continue;
    }
    T top = -std::numeric_limits<T>::infinity(), sum = 0, inner = 0;
    for (size_type j = 0; j < r.k; ++j)
      if (r.id(b, j) >= 0) top = std::max(top, r.scores(b, r.id(b, j)));
    for (size_type j = 0; j < r.k; ++j) {
      g[static_cast<std::size_t>(j)] = r.id(b, j) >= 0 ? std::exp(r.scores(b, r.id(b, j)) - top) : T(0);
      sum += g[static_cast<std::size_t>(j)];
    }
    if (sum == T(0)) continue;  // null-routed row: no gate, no gradient
    for (size_type j = 0; j < r.k; ++j) inner += (g[static_cast<std::size_t>(j)] /= sum) * dg(j);
    for (size_type j = 0; j < r.k; ++j)
      if (r.id(b, j) >= 0) ds(b, r.id(b, j)) += g[static_cast<std::size_t>(j)] * (dg(j) - inner);
  }
  return ds;
}

}  // namespace detail
}  // namespace beacon::oracle
