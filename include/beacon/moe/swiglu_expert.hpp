// SPDX-License-Identifier: Apache-2.0
#pragma once
// SwiGLU FFN expert (LLaMA's FFN shape): y = W_down (SiLU(W_gate x) * (W_up x)).

#include "expert_common.hpp"
#include "grouped_expert.hpp"

namespace beacon::moe {

struct swiglu_expert {
  static std::string identity() { return "swiglu"; }
  static constexpr size_type cached = 3;  ///< a = x W_gate^T, b = x W_up^T, u = SiLU(a) * b
  static size_type width(const expert_shape& s) { return s.hidden; }

  template <class T, class B>
  static expert_parameters<T, B> make(const B& be, const expert_shape& s, const std::string& prefix) {
    expert_parameters<T, B> p;
    p.emplace_back(be, prefix + "gate", std::vector<size_type>{s.hidden, s.d_model});
    p.emplace_back(be, prefix + "up", std::vector<size_type>{s.hidden, s.d_model});
    p.emplace_back(be, prefix + "down", std::vector<size_type>{s.d_model, s.hidden});
    return p;
  }

  template <class T, class B>
  static void init(const B& be, expert_parameters<T, B>& p, const expert_init<T, typename B::memory_space>& how, std::uint64_t slot) {
    if (how.how == expert_init<T, typename B::memory_space>::kind::copy_of_ffn) {
      if (how.ffn.size() != 2) beacon::fail("swiglu_expert::init", "ffn", "2 matrices (W_gate, W_up)", how.ffn.size());
      detail::copy_into(be, p[0], how.ffn[0], "swiglu_expert::init", "ffn[0] (W_gate)");
      detail::copy_into(be, p[1], how.ffn[1], "swiglu_expert::init", "ffn[1] (W_up)");
    } else {
      init_normal(be, p[0], how.seed, 3 * slot, how.scale);
      init_normal(be, p[1], how.seed, 3 * slot + 1, how.scale);
    }
    detail::zero(be, p[2]);  // insertion is a no-op
  }

  template <class T, class B, class S = typename B::memory_space>
  static void forward(const B& be, const std::vector<const expert_parameters<T, B>*>& experts, const std::vector<index_type>& offsets,
                      matrix_view<const T, S> x, matrix_view<T, S> cache, matrix_view<T, S> y) {
    std::vector<swiglu_weights<T, S>> w;
    for (const auto* e : experts) w.push_back({(*e)[0].value(), (*e)[1].value(), (*e)[2].value()});
    grouped_swiglu_forward(be, w, offsets, x, slices(cache, x.rows()), y);
  }

  template <class T, class B, class S = typename B::memory_space>
  static void backward(const B& be, const std::vector<expert_parameters<T, B>*>& experts, const std::vector<index_type>& offsets,
                       matrix_view<const T, S> x, matrix_view<T, S> cache, matrix_view<const T, S> dy,
                       matrix_view<T, S> dx = {}) {
    std::vector<swiglu_weights<T, S>> w;
    std::vector<swiglu_gradients<T, S>> g;
    for (auto* e : experts) {
      w.push_back({(*e)[0].value(), (*e)[1].value(), (*e)[2].value()});
      g.push_back({(*e)[0].grad(), (*e)[1].grad(), (*e)[2].grad()});
    }
    const auto c = slices(cache, x.rows());
    grouped_swiglu_backward(be, w, g, offsets, x, swiglu_cache<T, S>{c.a, c.b, c.u}, dy, dx);
  }

 private:
  template <class T, class S>
  static swiglu_cache<T, S> slices(matrix_view<T, S> cache, size_type rows) {
    return {cache.row_block(0, rows), cache.row_block(rows, rows), cache.row_block(2 * rows, rows)};
  }
};

}  // namespace beacon::moe
