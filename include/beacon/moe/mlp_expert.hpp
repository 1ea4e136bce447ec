// SPDX-License-Identifier: Apache-2.0
#pragma once
// Two-layer MLP expert: y = W2 act(W1 x + b1) + b2, act a beacon::activation (ReLU, SiLU, GELU or
// identity).

#include "expert_common.hpp"
#include "grouped_expert.hpp"

namespace beacon::moe {

template <activation Act = activation::relu>
struct mlp_expert {
  static std::string identity() { return std::string("mlp<activation=") + activation_name(Act) + ">"; }
  static constexpr size_type cached = 2;  ///< z = x W1^T + b1 and a = act(z)
  static size_type width(const expert_shape& s) { return s.hidden; }

  template <class T, class B>
  static expert_parameters<T, B> make(const B& be, const expert_shape& s, const std::string& prefix) {
    expert_parameters<T, B> p;
    p.emplace_back(be, prefix + "w1", std::vector<size_type>{s.hidden, s.d_model});
    p.emplace_back(be, prefix + "b1", std::vector<size_type>{s.hidden});
    p.emplace_back(be, prefix + "w2", std::vector<size_type>{s.d_model, s.hidden});
    p.emplace_back(be, prefix + "b2", std::vector<size_type>{s.d_model});
    return p;
  }

  template <class T, class B>
  static void init(const B& be, expert_parameters<T, B>& p, const expert_init<T, typename B::memory_space>& how, std::uint64_t slot) {
    if (how.how == expert_init<T, typename B::memory_space>::kind::copy_of_ffn) {
      if (how.ffn.empty() || how.ffn.size() > 2) beacon::fail("mlp_expert::init", "ffn", "1 or 2 matrices (W1[, b1 as 1 x h])", how.ffn.size());
      detail::copy_into(be, p[0], how.ffn[0], "mlp_expert::init", "ffn[0] (W1)");
      if (how.ffn.size() == 2) detail::copy_into(be, p[1], how.ffn[1], "mlp_expert::init", "ffn[1] (b1)");
    } else {
      init_normal(be, p[0], how.seed, 2 * slot, how.scale);
    }
    detail::zero(be, p[2]);
    detail::zero(be, p[3]);
  }

  template <class T, class B, class S = typename B::memory_space>
  static void forward(const B& be, const std::vector<const expert_parameters<T, B>*>& experts, const std::vector<index_type>& offsets,
                      matrix_view<const T, S> x, matrix_view<T, S> cache, matrix_view<T, S> y) {
    std::vector<mlp_weights<T, S>> w;
    for (const auto* e : experts) w.push_back(weights(*e));
    detail::mlp_family_forward(be, Act, w, offsets, x, cache, y);
  }

  template <class T, class B, class S = typename B::memory_space>
  static void backward(const B& be, const std::vector<expert_parameters<T, B>*>& experts, const std::vector<index_type>& offsets,
                       matrix_view<const T, S> x, matrix_view<T, S> cache, matrix_view<const T, S> dy,
                       matrix_view<T, S> dx = {}) {
    std::vector<mlp_weights<T, S>> w;
    std::vector<mlp_gradients<T, S>> g;
    for (auto* e : experts) {
      w.push_back(weights(*e));
      g.push_back({(*e)[0].grad(), detail::grad_vector_or_empty((*e)[1]), (*e)[2].grad(), detail::grad_vector_or_empty((*e)[3])});
    }
    detail::mlp_family_backward(be, Act, w, g, offsets, x, cache, dy, dx);
  }

 private:
  template <class T, class B, class S = typename B::memory_space>
  static mlp_weights<T, S> weights(const expert_parameters<T, B>& e) {
    return {e[0].value(), e[1].value_vector(), e[2].value(), e[3].value_vector()};
  }
};

}  // namespace beacon::moe
