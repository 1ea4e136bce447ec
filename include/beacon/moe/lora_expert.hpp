// SPDX-License-Identifier: Apache-2.0
#pragma once
// Low-rank expert of rank R: y = B act(A x), A (R x d) random, B (d x R) zero at insertion (a
// no-op). act = identity is classic LoRA (B A x); ReLU is the LiveEdit re-implementation's choice.
// It is the MLP expert's computation without biases, so it runs on the same grouped kernels.

#include "expert_common.hpp"
#include "grouped_expert.hpp"

namespace beacon::moe {

template <size_type Rank, activation Act = activation::identity>
struct lora_expert {
  static_assert(Rank >= 1, "beacon::moe::lora_expert: Rank must be >= 1");
  static constexpr size_type rank = Rank;
  static std::string identity() { return beacon::concat("lora<rank=", Rank, ",activation=", activation_name(Act), ">"); }
  static constexpr size_type cached = 2;  ///< z = x A^T and act(z)
  static size_type width(const expert_shape&) { return Rank; }

  template <class T, class B>
  static expert_parameters<T, B> make(const B& be, const expert_shape& s, const std::string& prefix) {
    expert_parameters<T, B> p;
    p.emplace_back(be, prefix + "lora_a", std::vector<size_type>{Rank, s.d_model});
    p.emplace_back(be, prefix + "lora_b", std::vector<size_type>{s.d_model, Rank});
    return p;
  }

  template <class T, class B>
  static void init(const B& be, expert_parameters<T, B>& p, const expert_init<T, typename B::memory_space>& how, std::uint64_t slot) {
    if (how.how == expert_init<T, typename B::memory_space>::kind::copy_of_ffn)
      beacon::fail("lora_expert::init", "init", "expert_init::random_normal (a LoRA expert has no FFN weights to copy)",
                           "expert_init::copy_of");
    init_normal(be, p[0], how.seed, slot, how.scale);
    detail::zero(be, p[1]);
  }

  template <class T, class B, class S = typename B::memory_space>
  static void forward(const B& be, const std::vector<const expert_parameters<T, B>*>& experts, const std::vector<index_type>& offsets,
                      matrix_view<const T, S> x, matrix_view<T, S> cache, matrix_view<T, S> y) {
    std::vector<mlp_weights<T, S>> w;
    for (const auto* e : experts) w.push_back({(*e)[0].value(), {}, (*e)[1].value(), {}});  // no biases
    detail::mlp_family_forward(be, Act, w, offsets, x, cache, y);
  }

  template <class T, class B, class S = typename B::memory_space>
  static void backward(const B& be, const std::vector<expert_parameters<T, B>*>& experts, const std::vector<index_type>& offsets,
                       matrix_view<const T, S> x, matrix_view<T, S> cache, matrix_view<const T, S> dy,
                       matrix_view<T, S> dx = {}) {
    std::vector<mlp_weights<T, S>> w;
    std::vector<mlp_gradients<T, S>> g;
    for (auto* e : experts) {
      w.push_back({(*e)[0].value(), {}, (*e)[1].value(), {}});
      g.push_back({(*e)[0].grad(), {}, (*e)[1].grad(), {}});
    }
    detail::mlp_family_backward(be, Act, w, g, offsets, x, cache, dy, dx);
  }
};

}  // namespace beacon::moe
