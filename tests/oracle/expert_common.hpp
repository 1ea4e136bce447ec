// SPDX-License-Identifier: Apache-2.0
#pragma once
// What every expert policy shares: how a new expert is initialised, and small Eigen helpers.
//
// Expert policies (swiglu_expert, mlp_expert<act>, lora_expert<rank, act>) are types with static
// members: make(shape), init(state, expert_init), forward(x, y, cache), backward(...). Weights use
// the PyTorch Linear layout W (out x in), y = x W^T, so host FFN weights copy over unchanged.

#include <cmath>
#include <cstdint>
#include <vector>

#include <beacon/core/eigen.hpp>
#include <beacon/core/philox.hpp>
#include "parameter.hpp"

namespace beacon::oracle {

struct expert_shape {
  size_type d_model = 0;
  size_type hidden = 0;  ///< FFN width (ignored by LoRA experts, whose width is their rank)
};

/// How insert_expert initialises a new expert. copy_of_ffn copies the host FFN's input-side
/// weights and zeroes the output projection, so insertion is an exact no-op (the paper's default
/// reading, spec A2); random draws small N(0, scale^2) input weights, also with a zero output.
template <class T>
struct expert_init {
  enum class kind { copy_of_ffn, random } how = kind::random;
  std::vector<matrix_view<const T, host_space>> ffn;  ///< swiglu: {W_gate, W_up}; mlp: {W1} (+ optional {b1} as 1 x h)
  std::uint64_t seed = 0;
  double scale = 0.02;

  static expert_init copy_of(std::vector<matrix_view<const T, host_space>> weights) {
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

namespace detail {
template <class T>
auto mat(parameter<T>& p) {
  return Eigen::Map<row_matrix<T>>(p.value.data(), p.rows(), p.cols());
}
template <class T>
auto mat(const parameter<T>& p) {
  return Eigen::Map<const row_matrix<T>>(p.value.data(), p.rows(), p.cols());
}
template <class T>
auto grad_mat(parameter<T>& p) {
  return Eigen::Map<row_matrix<T>>(p.grad.data(), p.rows(), p.cols());
}

template <class T>
void fill_normal(parameter<T>& p, std::uint64_t seed, std::uint64_t stream_id, double scale) {
  const philox_stream s{seed, stream_id << 40};
  for (std::size_t i = 0; i < p.value.size(); ++i) p.value[i] = static_cast<T>(scale * s.normal(i));
}

template <class T>
void copy_into(parameter<T>& p, const matrix_view<const T, host_space>& w, const char* fn, const char* what) {
  if (w.rows() != p.rows() || w.cols() != p.cols())
    beacon::detail::fail<shape_error>(fn, what, beacon::detail::concat(p.rows(), "x", p.cols()),
                                      beacon::detail::concat(w.rows(), "x", w.cols()));
  for (size_type i = 0; i < w.rows(); ++i)
    for (size_type j = 0; j < w.cols(); ++j) p.value[static_cast<std::size_t>(i * p.cols() + j)] = w(i, j);
}
}  // namespace detail

}  // namespace beacon::oracle
