// SPDX-License-Identifier: Apache-2.0
#pragma once
// SwiGLU FFN expert (LLaMA's FFN shape): y = W_down (SiLU(W_gate x) * (W_up x)).

#include <beacon/core/activation.hpp>
#include "expert_common.hpp"

namespace beacon::oracle {

struct swiglu_expert {
  static constexpr const char* name = "swiglu";

  template <class T>
  struct state {
    parameter<T> gate, up, down;  // h x d, h x d, d x h
    std::vector<parameter<T>*> params() { return {&gate, &up, &down}; }
    std::vector<const parameter<T>*> params() const { return {&gate, &up, &down}; }
  };
  template <class T>
  struct cache {
    row_matrix<T> a, b, u;  // W_gate x, W_up x, SiLU(a) * b (n x h)
  };

  template <class T>
  static state<T> make(const expert_shape& s, const std::string& prefix) {
    return {parameter<T>(prefix + "gate", {s.hidden, s.d_model}), parameter<T>(prefix + "up", {s.hidden, s.d_model}),
            parameter<T>(prefix + "down", {s.d_model, s.hidden})};
  }

  template <class T>
  static void init(state<T>& st, const expert_init<T>& how, std::uint64_t slot) {
    if (how.how == expert_init<T>::kind::copy_of_ffn) {
      if (how.ffn.size() != 2)
        beacon::detail::fail("swiglu_expert::init", "ffn", "2 matrices (W_gate, W_up)", how.ffn.size());
      detail::copy_into(st.gate, how.ffn[0], "swiglu_expert::init", "ffn[0] (W_gate)");
      detail::copy_into(st.up, how.ffn[1], "swiglu_expert::init", "ffn[1] (W_up)");
    } else {
      detail::fill_normal(st.gate, how.seed, 3 * slot, how.scale);
      detail::fill_normal(st.up, how.seed, 3 * slot + 1, how.scale);
    }
    std::fill(st.down.value.begin(), st.down.value.end(), T(0));  // insertion is a no-op
  }

  template <class T>
  static void forward(const state<T>& st, const Eigen::Ref<const row_matrix<T>>& x, Eigen::Ref<row_matrix<T>> y, cache<T>& c) {
    c.a.noalias() = x * detail::mat(st.gate).transpose();
    c.b.noalias() = x * detail::mat(st.up).transpose();
    c.u = c.a.unaryExpr([](T z) { return activate(activation::silu, z); }).cwiseProduct(c.b);
    y.noalias() = c.u * detail::mat(st.down).transpose();
  }

  /// Accumulates weight gradients; dx (if non-empty) receives the input gradient.
  template <class T>
  static void backward(state<T>& st, const Eigen::Ref<const row_matrix<T>>& x, const cache<T>& c,
                       const Eigen::Ref<const row_matrix<T>>& dy, row_matrix<T>* dx) {
    detail::grad_mat(st.down).noalias() += dy.transpose() * c.u;
    const row_matrix<T> du = dy * detail::mat(st.down);
    const row_matrix<T> da = du.cwiseProduct(c.b).cwiseProduct(c.a.unaryExpr([](T z) { return activate_derivative(activation::silu, z); }));
    const row_matrix<T> db = du.cwiseProduct(c.a.unaryExpr([](T z) { return activate(activation::silu, z); }));
    detail::grad_mat(st.gate).noalias() += da.transpose() * x;
    detail::grad_mat(st.up).noalias() += db.transpose() * x;
    if (dx) *dx = da * detail::mat(st.gate) + db * detail::mat(st.up);
  }
};

}  // namespace beacon::oracle
