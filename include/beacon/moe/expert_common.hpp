// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the expert policies share: their parameter lists, insertion-time initialisation helpers and
// the views the grouped kernels take.
//
// An expert policy (swiglu_expert, mlp_expert<act>, lora_expert<rank, act>) is a type with static
// members over any backend:
//   identity()                      the type's name in checkpoints, e.g. "lora<rank=8,activation=relu>"
//   width(shape), cached            hidden width, and how many grouped-rows x width matrices forward keeps
//   make(be, shape, prefix)         the expert's parameters (PyTorch Linear layout W (out x in), y = x W^T)
//   init(be, params, how, slot)     insertion-time values
//   forward / backward              every expert over its group of the expert-grouped rows

#include <cstdint>
#include <string>
#include <vector>

#include "expert_init.hpp"
#include "grouped_expert.hpp"
#include "parameter.hpp"
#include "routing.hpp"

namespace beacon::moe {

/// One expert's parameters, in the policy's order.
template <class T, class B>
using expert_parameters = std::vector<parameter<T, B>>;

namespace detail {

/// Copies a user's FFN matrix into a parameter (shape checked).
template <class T, class B>
void copy_into(const B& be, parameter<T, B>& p, matrix_view<const T, typename B::memory_space> w, const char* fn, const char* what) {
  if (w.rows() != p.rows() || w.cols() != p.cols())
    beacon::fail<shape_error>(fn, what, beacon::concat(p.rows(), "x", p.cols()), beacon::concat(w.rows(), "x", w.cols()));
  copy_matrix<T, B>(be, w, p.value());
}

template <class T, class B>
void zero(const B& be, parameter<T, B>& p) {
  if (p.size() > 0) fill(be, T(0), p.value());
}

/// A vector parameter's gradient for the grouped kernels: empty when frozen (skip it).
template <class T, class B>
vector_view<T, typename B::memory_space> grad_vector_or_empty(parameter<T, B>& p) {
  auto g = p.grad();
  return g.empty() ? vector_view<T, typename B::memory_space>() : vector_view<T, typename B::memory_space>(g.data(), g.size());
}

/// The grouped two-layer computation y = act(x W1^T + b1) W2^T + b2 of the MLP-shaped experts (MLP,
/// and LoRA: the same without biases). `cache` holds z and act(z) as two blocks of x.rows() rows.
template <class B, class T, class S = typename B::memory_space>
void mlp_family_forward(const B& be, activation act, const std::vector<mlp_weights<T, S>>& w, const std::vector<index_type>& offsets,
                        matrix_view<const T, S> x, matrix_view<T, S> cache, matrix_view<T, S> y) {
  grouped_mlp_forward(be, act, w, offsets, x, mlp_cache<T, S>{cache.row_block(0, x.rows()), cache.row_block(x.rows(), x.rows())}, y);
}
template <class B, class T, class S = typename B::memory_space>
void mlp_family_backward(const B& be, activation act, const std::vector<mlp_weights<T, S>>& w, const std::vector<mlp_gradients<T, S>>& g,
                         const std::vector<index_type>& offsets, matrix_view<const T, S> x, matrix_view<T, S> cache,
                         matrix_view<const T, S> dy, matrix_view<T, S> dx) {
  grouped_mlp_backward(be, act, w, g, offsets, x, mlp_cache<T, S>{cache.row_block(0, x.rows()), cache.row_block(x.rows(), x.rows())}, dy, dx);
}

}  // namespace detail
}  // namespace beacon::moe
