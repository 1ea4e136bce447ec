// SPDX-License-Identifier: Apache-2.0
#pragma once
// LEMoE's KV-anchor router (spec lemoe.md §4, §11.3). Per instance j:
//   e_j = masked mean-pool of frozen token embeddings         (the caller's, e.g. masked_mean_pool)
//   v_j = W_up SiLU(W_down e_j)                               (the feature projection)
//   s_ij = score(k_i, v_j)                                    (dot, as the paper; scaled or cosine)
//   g(i | e_j) = TopK(softmax_i over the experts that exist)  (gate_norm selects renormalisation)
// Paper-faithful defaults (spec §11.6): one shared projection retrained at every step (A3), raw dot
// product (A8), softmax over all experts without renormalisation (A6), score-based selection in
// training (A7), key initialised at the new batch's mean v (A4 [I], the cold-start fix of §4.4).
// Options cover the alternatives: per-expert projections frozen with their expert, cosine or scaled
// scores, renormalised top-k, forced routing of the new batch, random keys, and a null route (no
// expert when the best score is below a threshold; beyond the paper, off by default).

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <beacon/core/activation.hpp>
#include "expert_common.hpp"
#include "routing.hpp"

#include <beacon/moe/kv_anchor_router.hpp>  // the option vocabulary (shared with the library)

namespace beacon::oracle {

using moe::score_function;
using moe::projection_mode;
using moe::key_init;
using moe::training_route;
using moe::kv_router_options;

template <class TopK>
struct kv_anchor_router {
  static constexpr size_type k = TopK::value;
  static constexpr bool instance_level = true;
  static constexpr const char* name = "kv_anchor";
  using options = kv_router_options;

  template <class T>
  struct projection {
    parameter<T> down, up;  // r x d, d_k x r
  };

  template <class T>
  struct state {
    size_type d_model = 0, rank = 0, key_dim = 0;
    options opt;
    projection<T> shared;
    std::vector<projection<T>> per_expert;  // per_expert_frozen mode
    std::vector<parameter<T>> keys;         // one 1 x d_k key per expert

    std::vector<parameter<T>*> params() {
      std::vector<parameter<T>*> p;
      if (opt.projection == projection_mode::shared_retrained) p = {&shared.down, &shared.up};
      for (auto& q : per_expert) p.insert(p.end(), {&q.down, &q.up});
      for (auto& key : keys) p.push_back(&key);
      return p;
    }
  };

  template <class T>
  struct cache {
    routing_result<T> route;
    row_matrix<T> e;                  // B x d
    std::vector<row_matrix<T>> z, v;  // per projection (1 shared, or one per expert): B x r, B x d_k
    size_type forced = -1;
  };

  template <class T>
  static state<T> make(size_type d_model, size_type rank, size_type key_dim, const options& o, std::uint64_t seed) {
    state<T> s;
    s.d_model = d_model;
    s.rank = rank > 0 ? rank : std::max<size_type>(1, d_model / 4);  // spec A9 default d/4
    s.key_dim = key_dim > 0 ? key_dim : d_model;                     // the paper: keys live in R^d
    s.opt = o;
    if (o.projection == projection_mode::shared_retrained) s.shared = make_projection<T>(s, "router.", seed, 0);
    return s;
  }

  /// Adds expert `slot`'s key (and projection), initialised from the new batch's instance embeddings.
  template <class T>
  static void insert(state<T>& s, size_type slot, const Eigen::Ref<const row_matrix<T>>& batch_e, std::uint64_t seed) {
    if (s.opt.projection == projection_mode::per_expert_frozen) {
      for (auto& q : s.per_expert) q.down.frozen = q.up.frozen = true;
      s.per_expert.push_back(make_projection<T>(s, "router.expert" + std::to_string(slot) + ".", seed, static_cast<std::uint64_t>(slot) + 1));
    }
    for (auto& key : s.keys) key.frozen = true;  // earlier keys never change again
    parameter<T> key("router.key" + std::to_string(slot), {1, s.key_dim});
    if (s.opt.key == key_init::random || batch_e.rows() == 0) {
      detail::fill_normal(key, seed, 1000 + static_cast<std::uint64_t>(slot), 0.01);
    } else {
      const projection<T>& p = s.opt.projection == projection_mode::shared_retrained ? s.shared : s.per_expert.back();
      row_matrix<T> z, v;
      project<T>(p, batch_e, z, v);
      Eigen::Matrix<T, 1, Eigen::Dynamic> mean = v.colwise().mean();
      if (s.opt.key == key_init::normalized_batch_mean && mean.norm() > T(0)) mean.normalize();
      for (size_type j = 0; j < s.key_dim; ++j) key.value[static_cast<std::size_t>(j)] = mean(j);
    }
    s.keys.push_back(std::move(key));
  }

  /// Routes instances e (B x d) over the existing experts. forced >= 0 routes every instance's
  /// first choice to that expert (training_route::forced_to_new during its own step).
  template <class T>
  static void route(const state<T>& s, const Eigen::Ref<const row_matrix<T>>& e, cache<T>& c, size_type forced = -1) {
    const auto t = static_cast<size_type>(s.keys.size());
    if (t == 0) beacon::detail::fail("kv_anchor_router::route", "experts", ">= 1 (insert an expert first)", 0);
    if (e.cols() != s.d_model)
      beacon::detail::fail<shape_error>("kv_anchor_router::route", "instance_embeddings", beacon::detail::concat(s.d_model, " columns"), e.cols());
    c.e = e;
    c.forced = forced;
    const bool shared = s.opt.projection == projection_mode::shared_retrained;
    const size_type projections = shared ? 1 : t;
    c.z.resize(static_cast<std::size_t>(projections));
    c.v.resize(static_cast<std::size_t>(projections));
    for (size_type p = 0; p < projections; ++p)
      project<T>(shared ? s.shared : s.per_expert[static_cast<std::size_t>(p)], e, c.z[static_cast<std::size_t>(p)],
                 c.v[static_cast<std::size_t>(p)]);
    c.route.scores.resize(e.rows(), t);
    if (shared && s.opt.score != score_function::cosine) {
      // One GEMM against all keys: scores = V K^T (scaled for scaled_dot).
      row_matrix<T> keys(t, s.key_dim);
      for (size_type i = 0; i < t; ++i)
        keys.row(i) = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(s.keys[static_cast<std::size_t>(i)].value.data(), s.key_dim);
      c.route.scores.noalias() = c.v[0] * keys.transpose();
      if (s.opt.score == score_function::scaled_dot) c.route.scores /= std::sqrt(static_cast<T>(s.key_dim));
    } else {
      for (size_type i = 0; i < t; ++i) {
        const auto key = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(s.keys[static_cast<std::size_t>(i)].value.data(), s.key_dim);
        const row_matrix<T>& v = c.v[static_cast<std::size_t>(shared ? 0 : i)];
        for (size_type b = 0; b < e.rows(); ++b) c.route.scores(b, i) = score(s, key, v.row(b));
      }
    }
    detail::select(c.route, k, s.opt.gate);
    if (forced >= 0) {  // the new batch's first choice is its own expert; the gate keeps its probability
      for (size_type b = 0; b < c.route.rows; ++b) {
        c.route.ids[static_cast<std::size_t>(b * c.route.k)] = static_cast<index_type>(forced);
        c.route.gates[static_cast<std::size_t>(b * c.route.k)] =
            s.opt.gate == gate_norm::renormalize_top_k ? T(1) : c.route.probs(b, forced);
        for (size_type j = 1; j < c.route.k; ++j) c.route.gates[static_cast<std::size_t>(b * c.route.k + j)] = T(0);
      }
    } else if (s.opt.null_route) {
      for (size_type b = 0; b < c.route.rows; ++b)
        if (c.route.scores.row(b).maxCoeff() < static_cast<T>(s.opt.null_threshold))
          for (size_type j = 0; j < c.route.k; ++j) {
            c.route.ids[static_cast<std::size_t>(b * c.route.k + j)] = -1;
            c.route.gates[static_cast<std::size_t>(b * c.route.k + j)] = T(0);
          }
    }
  }

  /// Accumulates gradients of the trainable router parameters from dL/dgates (B x k).
  template <class T>
  static void backward(state<T>& s, const cache<T>& c, const std::vector<T>& dgates) {
    if (c.forced < 0) return backward_scores(s, c, detail::score_gradient(c.route, dgates, s.opt.gate));
    // Forced routing: the gates after the first are the constant 0, and a renormalised first gate is
    // the constant 1; only an un-renormalised first gate (= p_forced) depends on the scores.
    std::vector<T> live(dgates.size(), T(0));
    if (s.opt.gate == gate_norm::softmax_all_experts)
      for (size_type b = 0; b < c.route.rows; ++b)
        live[static_cast<std::size_t>(b * c.route.k)] = dgates[static_cast<std::size_t>(b * c.route.k)];
    backward_scores(s, c, detail::score_gradient(c.route, live, s.opt.gate));
  }

  /// Routing replay (spec §12, beyond the paper): the cross-entropy of the router's softmax over
  /// all experts against the expert each stored instance was edited into. Accumulates the gradient
  /// of weight * mean CE into the trainable keys and projection (frozen ones are skipped) and
  /// returns the mean CE. Replaying the instance embeddings of every batch so far keeps a shared,
  /// retrained projection from pulling earlier batches to the newest key.
  template <class T>
  static double replay(state<T>& s, const Eigen::Ref<const row_matrix<T>>& e, const std::vector<index_type>& labels, double weight) {
    const char* fn = "kv_anchor_router::replay";
    if (static_cast<size_type>(labels.size()) != e.rows())
      beacon::detail::fail<shape_error>(fn, "labels", beacon::detail::concat(e.rows(), " entries (one per instance)"), labels.size());
    if (!std::isfinite(weight) || weight < 0) beacon::detail::fail(fn, "weight", ">= 0 and finite", weight);
    const auto t = static_cast<size_type>(s.keys.size());
    for (index_type l : labels)
      if (l < 0 || l >= t) beacon::detail::fail(fn, "labels", beacon::detail::concat("expert ids in [0, ", t, ")"), l);
    if (e.rows() == 0) return 0.0;
    cache<T> c;
    route<T>(s, e, c);
    row_matrix<T> ds = c.route.probs;  // d CE / d scores = p - onehot(label), per row
    double ce = 0;
    for (size_type b = 0; b < e.rows(); ++b) {
      const auto l = labels[static_cast<std::size_t>(b)];
      ce -= std::log(std::max(static_cast<double>(c.route.probs(b, l)), 1e-300));
      ds(b, l) -= T(1);
    }
    ds *= static_cast<T>(weight / static_cast<double>(e.rows()));
    backward_scores(s, c, ds);
    return ce / static_cast<double>(e.rows());
  }

 private:
  /// Gradients of the trainable keys and projections from dL/dscores (B x t).
  template <class T>
  static void backward_scores(state<T>& s, const cache<T>& c, const row_matrix<T>& ds) {
    const auto t = static_cast<size_type>(s.keys.size());
    const bool shared = s.opt.projection == projection_mode::shared_retrained;
    const size_type projections = shared ? 1 : t;
    std::vector<row_matrix<T>> dv(static_cast<std::size_t>(projections));
    for (auto& m : dv) m = row_matrix<T>::Zero(c.e.rows(), s.key_dim);
    for (size_type i = 0; i < t; ++i) {
      auto& key = s.keys[static_cast<std::size_t>(i)];
      const auto kv = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(key.value.data(), s.key_dim);
      auto kg = Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(key.grad.data(), s.key_dim);
      const std::size_t p = static_cast<std::size_t>(shared ? 0 : i);
      for (size_type b = 0; b < c.e.rows(); ++b) {
        const T g = ds(b, i);
        if (g == T(0)) continue;
        Eigen::Matrix<T, 1, Eigen::Dynamic> dk, dvv;
        score_gradients(s, kv, c.v[p].row(b), dk, dvv);
        if (!key.frozen) kg += g * dk;
        dv[p].row(b) += g * dvv;
      }
    }
    for (size_type p = 0; p < projections; ++p) {
      projection<T>& q = shared ? s.shared : s.per_expert[static_cast<std::size_t>(p)];
      if (q.down.frozen && q.up.frozen) continue;
      const row_matrix<T>& z = c.z[static_cast<std::size_t>(p)];
      const row_matrix<T> a = z.unaryExpr([](T x) { return activate(activation::silu, x); });
      detail::grad_mat(q.up).noalias() += dv[static_cast<std::size_t>(p)].transpose() * a;
      const row_matrix<T> dz = (dv[static_cast<std::size_t>(p)] * detail::mat(q.up))
                                   .cwiseProduct(z.unaryExpr([](T x) { return activate_derivative(activation::silu, x); }));
      detail::grad_mat(q.down).noalias() += dz.transpose() * c.e;
    }
  }

  template <class T>
  static projection<T> make_projection(const state<T>& s, const std::string& prefix, std::uint64_t seed, std::uint64_t id) {
    projection<T> p{parameter<T>(prefix + "w_down", {s.rank, s.d_model}), parameter<T>(prefix + "w_up", {s.key_dim, s.rank})};
    const double down_scale = s.opt.init_scale > 0 ? s.opt.init_scale : 1.0 / std::sqrt(static_cast<double>(s.d_model));
    const double up_scale = s.opt.init_scale > 0 ? s.opt.init_scale : 1.0 / std::sqrt(static_cast<double>(s.rank));
    detail::fill_normal(p.down, seed, 5000 + 2 * id, down_scale);
    detail::fill_normal(p.up, seed, 5001 + 2 * id, up_scale);
    return p;
  }

  template <class T>
  static void project(const projection<T>& p, const Eigen::Ref<const row_matrix<T>>& e, row_matrix<T>& z, row_matrix<T>& v) {
    z.noalias() = e * detail::mat(p.down).transpose();
    v.noalias() = z.unaryExpr([](T x) { return activate(activation::silu, x); }) * detail::mat(p.up).transpose();
  }

  template <class T, class K, class V>
  static T score(const state<T>& s, const K& key, const V& v) {
    const T dot = key.dot(v);
    switch (s.opt.score) {
      case score_function::dot: return dot;
      case score_function::scaled_dot: return dot / std::sqrt(static_cast<T>(s.key_dim));
      case score_function::cosine: return dot / (std::max(key.norm(), T(1e-8)) * std::max(v.norm(), T(1e-8)));
    }
    return dot;
  }

  template <class T, class K, class V>
  static void score_gradients(const state<T>& s, const K& key, const V& v, Eigen::Matrix<T, 1, Eigen::Dynamic>& dk,
                              Eigen::Matrix<T, 1, Eigen::Dynamic>& dv) {
    switch (s.opt.score) {
      case score_function::dot:
        dk = v;
        dv = key;
        return;
      case score_function::scaled_dot: {
        const T inv = T(1) / std::sqrt(static_cast<T>(s.key_dim));
        dk = inv * v;
        dv = inv * key;
        return;
      }
      case score_function::cosine: {
        const T nk = std::max(key.norm(), T(1e-8)), nv = std::max(v.norm(), T(1e-8));
        const T cos = key.dot(v) / (nk * nv);
        dk = v / (nk * nv) - cos * key / (nk * nk);
        dv = key / (nk * nv) - cos * v / (nv * nv);
        return;
      }
    }
  }
};

}  // namespace beacon::oracle
