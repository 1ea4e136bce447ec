// SPDX-License-Identifier: Apache-2.0
#pragma once
// Low-rank expert of rank R: y = scale * B act(A x), A (R x d) random, B (d x R) zero at insertion
// (a no-op). act = identity is classic LoRA (B A x); ReLU is the LiveEdit re-implementation's choice.

#include <beacon/core/activation.hpp>
#include "expert_common.hpp"

namespace beacon::oracle {

template <size_type Rank, activation Act = activation::identity>
struct lora_expert {
  static_assert(Rank >= 1, "beacon::moe::lora_expert: Rank must be >= 1");
  static constexpr const char* name = "lora";
  static constexpr size_type rank = Rank;

  template <class T>
  struct state {
    parameter<T> a, b;  // R x d, d x R
    T scale = T(1);
    std::vector<parameter<T>*> params() { return {&a, &b}; }
    std::vector<const parameter<T>*> params() const { return {&a, &b}; }
  };
  template <class T>
  struct cache {
    row_matrix<T> z, h;
  };

  template <class T>
  static state<T> make(const expert_shape& s, const std::string& prefix) {
    return {parameter<T>(prefix + "lora_a", {Rank, s.d_model}), parameter<T>(prefix + "lora_b", {s.d_model, Rank}), T(1)};
  }

  template <class T>
  static void init(state<T>& st, const expert_init<T>& how, std::uint64_t slot) {
    // A LoRA expert has no FFN to copy: its input side is always random, its output side zero.
    const double scale = how.how == expert_init<T>::kind::random ? how.scale : 1.0 / std::sqrt(static_cast<double>(st.a.cols()));
    detail::fill_normal(st.a, how.seed, slot, scale);
    std::fill(st.b.value.begin(), st.b.value.end(), T(0));
  }

  template <class T>
  static void forward(const state<T>& st, const Eigen::Ref<const row_matrix<T>>& x, Eigen::Ref<row_matrix<T>> y, cache<T>& c) {
    c.z.noalias() = x * detail::mat(st.a).transpose();
    c.h = c.z.unaryExpr([](T v) { return activate(Act, v); });
    y.noalias() = st.scale * (c.h * detail::mat(st.b).transpose());
  }

  template <class T>
  static void backward(state<T>& st, const Eigen::Ref<const row_matrix<T>>& x, const cache<T>& c,
                       const Eigen::Ref<const row_matrix<T>>& dy, row_matrix<T>* dx) {
    detail::grad_mat(st.b).noalias() += st.scale * (dy.transpose() * c.h);
    const row_matrix<T> dz = (st.scale * (dy * detail::mat(st.b))).cwiseProduct(c.z.unaryExpr([](T v) { return activate_derivative(Act, v); }));
    detail::grad_mat(st.a).noalias() += dz.transpose() * x;
    if (dx) *dx = dz * detail::mat(st.a);
  }
};

}  // namespace beacon::oracle
