// SPDX-License-Identifier: Apache-2.0
#pragma once
// The conventional token-level gate (MEMoE-style, the baseline LEMoE improves on): logits = W_g x
// (+ optional Gaussian noise in training), softmax over the existing experts, top-k, renormalised
// or not, and an optional Switch-style load-balancing loss  alpha * E * sum_i f_i P_i  (f_i = share of
// tokens whose first choice is i, P_i = mean router probability of i). W_g gains one row per
// inserted expert; all of it is trainable at every step (that is what makes it drift).

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <beacon/core/philox.hpp>
#include "expert_common.hpp"
#include "routing.hpp"

#include <beacon/moe/softmax_topk_router.hpp>  // the option vocabulary

namespace beacon::oracle {

using moe::softmax_router_options;

template <class TopK>
struct softmax_topk_router {
  static constexpr size_type k = TopK::value;
  static constexpr bool instance_level = false;
  static constexpr const char* name = "softmax_topk";
  using options = softmax_router_options;

  template <class T>
  struct state {
    size_type d_model = 0;
    options opt;
    std::uint64_t seed = 0;
    std::vector<parameter<T>> rows;  // one 1 x d gate row per expert
    std::uint64_t noise_calls = 0;
    std::vector<parameter<T>*> params() {
      std::vector<parameter<T>*> p;
      for (auto& r : rows) p.push_back(&r);
      return p;
    }
  };

  template <class T>
  struct cache {
    routing_result<T> route;
    row_matrix<T> x;
    double aux_loss = 0;
    std::vector<T> first_choice_share;  // f_i
  };

  template <class T>
  static state<T> make(size_type d_model, size_type, size_type, const options& o, std::uint64_t seed) {
    state<T> s;
    s.d_model = d_model;
    s.opt = o;
    s.seed = seed;
    return s;
  }

  template <class T>
  static void insert(state<T>& s, size_type slot, const Eigen::Ref<const row_matrix<T>>&, std::uint64_t seed) {
    parameter<T> row("router.gate" + std::to_string(slot), {1, s.d_model});
    detail::fill_normal(row, seed, 9000 + static_cast<std::uint64_t>(slot),
                        s.opt.init_scale > 0 ? s.opt.init_scale : 1.0 / std::sqrt(static_cast<double>(s.d_model)));
    s.rows.push_back(std::move(row));
  }

  /// Routes token rows x (N x d). `training` adds the configured noise.
  template <class T>
  static void route(state<T>& s, const Eigen::Ref<const row_matrix<T>>& x, cache<T>& c, bool training = false) {
    const auto t = static_cast<size_type>(s.rows.size());
    if (t == 0) beacon::detail::fail("softmax_topk_router::route", "experts", ">= 1 (insert an expert first)", 0);
    if (x.cols() != s.d_model)
      beacon::detail::fail<shape_error>("softmax_topk_router::route", "x", beacon::detail::concat(s.d_model, " columns"), x.cols());
    c.x = x;
    c.route.scores.resize(x.rows(), t);
    for (size_type i = 0; i < t; ++i)
      c.route.scores.col(i) = x * Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(s.rows[static_cast<std::size_t>(i)].value.data(), s.d_model);
    if (training && s.opt.noise_std > 0) {
      const philox_stream noise{s.seed, (++s.noise_calls) << 32};
      for (size_type b = 0; b < x.rows(); ++b)
        for (size_type i = 0; i < t; ++i) c.route.scores(b, i) += static_cast<T>(s.opt.noise_std * noise.normal(static_cast<std::uint64_t>(b * t + i)));
    }
    detail::select(c.route, k, s.opt.gate);
    c.first_choice_share.assign(static_cast<std::size_t>(t), T(0));
    c.aux_loss = 0;
    if (x.rows() > 0) {
      for (size_type b = 0; b < x.rows(); ++b) c.first_choice_share[static_cast<std::size_t>(c.route.id(b, 0))] += T(1) / static_cast<T>(x.rows());
      for (size_type i = 0; i < t; ++i)
        c.aux_loss += s.opt.load_balance_weight * static_cast<double>(t) * c.first_choice_share[static_cast<std::size_t>(i)] *
                      static_cast<double>(c.route.probs.col(i).mean());
    }
  }

  /// Accumulates dL/dW_g from dL/dgates (N x k) plus the load-balancing loss (f_i held constant).
  template <class T>
  static void backward(state<T>& s, const cache<T>& c, const std::vector<T>& dgates) {
    const auto t = static_cast<size_type>(s.rows.size());
    row_matrix<T> ds = detail::score_gradient(c.route, dgates, s.opt.gate);
    if (s.opt.load_balance_weight != 0 && c.x.rows() > 0) {
      for (size_type b = 0; b < c.x.rows(); ++b) {
        Eigen::Matrix<T, 1, Eigen::Dynamic> dp(t);
        for (size_type i = 0; i < t; ++i)
          dp(i) = static_cast<T>(s.opt.load_balance_weight * static_cast<double>(t)) * c.first_choice_share[static_cast<std::size_t>(i)] /
                  static_cast<T>(c.x.rows());
        const T inner = dp.dot(c.route.probs.row(b));
        for (size_type i = 0; i < t; ++i) ds(b, i) += c.route.probs(b, i) * (dp(i) - inner);
      }
    }
    for (size_type i = 0; i < t; ++i) {
      auto& row = s.rows[static_cast<std::size_t>(i)];
      if (row.frozen) continue;
      Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(row.grad.data(), s.d_model) += ds.col(i).transpose() * c.x;
    }
  }
};

}  // namespace beacon::oracle
