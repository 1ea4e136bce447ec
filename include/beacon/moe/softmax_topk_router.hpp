// SPDX-License-Identifier: Apache-2.0
#pragma once
// The conventional token-level gate (MEMoE-style, the baseline LEMoE improves on): logits = W_g x
// (+ optional Gaussian noise in training), softmax over the existing experts, top-k, renormalised
// or not, and an optional Switch-style load-balancing loss  alpha * E * sum_i f_i P_i  (f_i = share of
// tokens whose first choice is i, P_i = mean router probability of i). W_g (E x d) gains one row per
// inserted expert; all of it trains at every step (that is what makes it drift).
//
// Written over the backend: one GEMM for the logits, the backend's softmax / top-k, one GEMM for
// dW_g. The load-balancing statistics (E values and the first choices) cross to the host once per
// forward when the loss is on.

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../backend/transfer.hpp"
#include "../core/gemm_shape.hpp"
#include "routing.hpp"

namespace beacon::moe {

struct softmax_router_options {
  gate_norm gate = gate_norm::softmax_all_experts;  ///< MEMoE's TopK(softmax): renormalised top-1 would get no gradient
  double noise_std = 0.0;                           ///< noisy top-k in training (0 = off)
  double load_balance_weight = 0.0;
  double init_scale = 0.0;  ///< new gate rows ~ N(0, s^2); 0 = 1/sqrt(d)
};

template <class TopK>
struct softmax_topk_router {
  static constexpr size_type k = TopK::value;
  static constexpr bool instance_level = false;
  using options = softmax_router_options;
  static std::string identity() { return beacon::concat("softmax_topk<k=", k, ">"); }

  template <class T, class B>
  struct cache {
    using space = typename B::memory_space;
    routing<T, B> route;
    matrix_view<const T, space> x;  ///< the routed rows (the caller's; kept alive until backward)
    double aux_loss = 0;
    std::vector<T> first_choice_share;  ///< f_i (host)
    buffer_t<T, B> balance_dp, noise;
  };

  template <class T, class B>
  class state {
   public:
    using space = typename B::memory_space;
    state() = default;
    state(const B& be, size_type d_model, size_type /*rank*/, size_type /*key_dim*/, const options& o, std::uint64_t seed)
        : d_model_(d_model), opt_(o), seed_(seed), gate_(be, "router.gate", {0, d_model}) {
      if (!std::isfinite(o.noise_std) || o.noise_std < 0) beacon::fail("softmax_topk_router", "options.noise_std", ">= 0 and finite", o.noise_std);
      if (!std::isfinite(o.load_balance_weight)) beacon::fail("softmax_topk_router", "options.load_balance_weight", "finite", o.load_balance_weight);
    }

    [[nodiscard]] const options& settings() const noexcept { return opt_; }
    [[nodiscard]] size_type experts() const noexcept { return gate_.rows(); }
    [[nodiscard]] const parameter<T, B>& gate() const noexcept { return gate_; }
    std::vector<parameter<T, B>*> params() { return {&gate_}; }
    std::vector<const parameter<T, B>*> params() const { return {&gate_}; }

    /// Adds expert `slot`'s gate row ~ N(0, init_scale^2).
    void insert(const B& be, size_type slot, matrix_view<const T, space> /*batch*/) {
      gate_.append_rows(be, 1);
      parameter<T, B> row(be, "row", {1, d_model_});
      init_normal(be, row, seed_, 9000 + static_cast<std::uint64_t>(slot),
                                 opt_.init_scale > 0 ? opt_.init_scale : 1.0 / std::sqrt(static_cast<double>(d_model_)));
      detail::copy_matrix<T, B>(be, row.value(), gate_.value().row_block(slot, 1));
    }

    /// Routes token rows x (N x d). A training request adds the configured noise.
    void route(const B& be, matrix_view<const T, space> x, cache<T, B>& c, const route_request& req) const {
      const char* fn = "softmax_topk_router::route";
      const size_type t = experts();
      if (t == 0) beacon::fail(fn, "experts", ">= 1 (insert an expert first)", 0);
      beacon::require_extent(fn, "x", "cols (d_model)", x.cols(), d_model_);
      c.x = x;
      c.route.resize(be, x.rows(), t, std::min(k, t));
      c.aux_loss = 0;
      c.first_choice_share.assign(static_cast<std::size_t>(t), T(0));
      if (x.rows() == 0) return;
      gemm(be, transpose::no, transpose::yes, T(1), x, gate_.value(), T(0), c.route.scores());
      if (req.training && opt_.noise_std > 0) {
        reserve_buffer<T, B>(be, c.noise, x.rows() * t);
        const matrix_view<T, space> eps(c.noise.view().data(), x.rows(), t);
        fill_normal(be, philox_stream{seed_, req.noise_call << 32}, eps);
        axpby(be, static_cast<T>(opt_.noise_std), matrix_view<const T, space>(eps), T(1), matrix_view<const T, space>(c.route.scores()),
              c.route.scores());
      }
      detail::softmax_select(be, c.route, opt_.gate);
      if (opt_.load_balance_weight != 0) balance_statistics(be, c);
    }

    /// Accumulates dL/dW_g from dL/dgates (N x k) plus the load-balancing loss (f held constant).
    void backward(const B& be, cache<T, B>& c, matrix_view<const T, space> dgates, buffer_t<T, B>& scratch) {
      const size_type n = c.route.rows, t = c.route.experts;
      if (n == 0 || gate_.frozen()) return;
      reserve_buffer<T, B>(be, scratch, n * t);
      const matrix_view<T, space> ds(scratch.view().data(), n, t);
      detail::score_gradient(be, c.route, dgates, opt_.gate, ds);
      if (opt_.load_balance_weight != 0)
        for_each_index(be, n, kernels::balance_gradient<T, space>{c.route.probs(), vector_view<const T, space>(c.balance_dp.view().data(), t), ds}, t);
      gemm(be, transpose::yes, transpose::no, T(1), matrix_view<const T, space>(ds), c.x, T(1), gate_.grad());
    }

   private:
    /// f_i and P_i on the host (E values and N first choices), the aux loss, and dp for backward.
    void balance_statistics(const B& be, cache<T, B>& c) const {
      const size_type n = c.route.rows, t = c.route.experts;
      const auto ids = download(be, matrix_view<const index_type, space>(c.route.ids()));
      reserve_buffer<T, B>(be, c.balance_dp, t);
      const vector_view<T, space> colsum(c.balance_dp.view().data(), t);
      fill(be, T(0), colsum.as_matrix(1, t));
      add_column_sums(be, matrix_view<const T, space>(c.route.probs()), colsum);
      const auto sums = download(be, vector_view<const T, space>(colsum));
      for (size_type b = 0; b < n; ++b) c.first_choice_share[static_cast<std::size_t>(ids[static_cast<std::size_t>(b * c.route.k)])] += T(1) / static_cast<T>(n);
      std::vector<T> dp(static_cast<std::size_t>(t));
      for (size_type i = 0; i < t; ++i) {
        const double f = static_cast<double>(c.first_choice_share[static_cast<std::size_t>(i)]);
        c.aux_loss += opt_.load_balance_weight * static_cast<double>(t) * f * static_cast<double>(sums[static_cast<std::size_t>(i)]) / static_cast<double>(n);
        dp[static_cast<std::size_t>(i)] = static_cast<T>(opt_.load_balance_weight * static_cast<double>(t) * f / static_cast<double>(n));
      }
      upload(be, dp, colsum);
      be.synchronize();  // dp (a host vector) must be copied before it goes out of scope
    }

    size_type d_model_ = 0;
    options opt_;
    std::uint64_t seed_ = 0;
    parameter<T, B> gate_;
  };
};

}  // namespace beacon::moe
