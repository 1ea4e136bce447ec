// SPDX-License-Identifier: Apache-2.0
#pragma once
// Two-layer MLP expert: y = W2 act(W1 x + b1) + b2, act in {ReLU, SiLU, GELU}.

#include <beacon/core/activation.hpp>
#include "expert_common.hpp"

namespace beacon::oracle {

template <activation Act = activation::relu>
struct mlp_expert {
  static constexpr const char* name = Act == activation::relu ? "mlp_relu" : (Act == activation::silu ? "mlp_silu" : "mlp_gelu");

  template <class T>
  struct state {
    parameter<T> w1, b1, w2, b2;  // h x d, h, d x h, d
    std::vector<parameter<T>*> params() { return {&w1, &b1, &w2, &b2}; }
    std::vector<const parameter<T>*> params() const { return {&w1, &b1, &w2, &b2}; }
  };
  template <class T>
  struct cache {
    row_matrix<T> z, a;  // pre-activation and activation (n x h)
  };

  template <class T>
  static state<T> make(const expert_shape& s, const std::string& prefix) {
    return {parameter<T>(prefix + "w1", {s.hidden, s.d_model}), parameter<T>(prefix + "b1", {s.hidden}),
            parameter<T>(prefix + "w2", {s.d_model, s.hidden}), parameter<T>(prefix + "b2", {s.d_model})};
  }

  template <class T>
  static void init(state<T>& st, const expert_init<T>& how, std::uint64_t slot) {
    if (how.how == expert_init<T>::kind::copy_of_ffn) {
      if (how.ffn.empty() || how.ffn.size() > 2)
        beacon::detail::fail("mlp_expert::init", "ffn", "1 or 2 matrices (W1[, b1 as 1 x h])", how.ffn.size());
      detail::copy_into(st.w1, how.ffn[0], "mlp_expert::init", "ffn[0] (W1)");
      if (how.ffn.size() == 2) detail::copy_into(st.b1, how.ffn[1], "mlp_expert::init", "ffn[1] (b1)");
    } else {
      detail::fill_normal(st.w1, how.seed, 2 * slot, how.scale);
    }
    std::fill(st.w2.value.begin(), st.w2.value.end(), T(0));
    std::fill(st.b2.value.begin(), st.b2.value.end(), T(0));
  }

  template <class T>
  static void forward(const state<T>& st, const Eigen::Ref<const row_matrix<T>>& x, Eigen::Ref<row_matrix<T>> y, cache<T>& c) {
    c.z.noalias() = x * detail::mat(st.w1).transpose();
    c.z.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(st.b1.value.data(), st.b1.size());
    c.a = c.z.unaryExpr([](T v) { return activate(Act, v); });
    y.noalias() = c.a * detail::mat(st.w2).transpose();
    y.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(st.b2.value.data(), st.b2.size());
  }

  template <class T>
  static void backward(state<T>& st, const Eigen::Ref<const row_matrix<T>>& x, const cache<T>& c,
                       const Eigen::Ref<const row_matrix<T>>& dy, row_matrix<T>* dx) {
    detail::grad_mat(st.w2).noalias() += dy.transpose() * c.a;
    Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(st.b2.grad.data(), st.b2.size()) += dy.colwise().sum();
    const row_matrix<T> dz = (dy * detail::mat(st.w2)).cwiseProduct(c.z.unaryExpr([](T v) { return activate_derivative(Act, v); }));
    detail::grad_mat(st.w1).noalias() += dz.transpose() * x;
    Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(st.b1.grad.data(), st.b1.size()) += dz.colwise().sum();
    if (dx) *dx = dz * detail::mat(st.w1);
  }
};

}  // namespace beacon::oracle
