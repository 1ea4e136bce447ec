// SPDX-License-Identifier: Apache-2.0
#pragma once
// How insert_expert initialises a new expert. copy_of copies the host FFN's input-side weights
// (views in the adaptor's memory space) and zeroes the output projection, so insertion is an exact
// no-op (the paper's default reading, spec A2); random_normal draws N(0, scale^2) input weights,
// also with a zero output. LoRA experts have no FFN to copy: copy_of is an error for them.

#include <cstdint>
#include <vector>

#include "../core/view.hpp"

namespace beacon::moe {

struct expert_shape {
  size_type d_model = 0;
  size_type hidden = 0;  ///< FFN width (LoRA experts use their rank)
};

template <class T, class Space = host_space>
struct expert_init {
  enum class kind { copy_of_ffn, random } how = kind::random;
  std::vector<matrix_view<const T, Space>> ffn;  ///< swiglu: {W_gate, W_up}; mlp: {W1} (+ optional b1 as 1 x h)
  std::uint64_t seed = 0;
  double scale = 0.02;

  static expert_init copy_of(std::vector<matrix_view<const T, Space>> weights) {
    expert_init e;
    e.how = kind::copy_of_ffn;
    e.ffn = std::move(weights);
    return e;
  }
  static expert_init random_normal(std::uint64_t seed, double scale = 0.02) {
    expert_init e;
    e.seed = seed;
    e.scale = scale;
    return e;
  }
};

}  // namespace beacon::moe
