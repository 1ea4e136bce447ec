// SPDX-License-Identifier: Apache-2.0
#pragma once
// The backend contract as code: every primitive beacon's algorithms call, grouped into layered
// concepts. A backend (beacon::cpu, beacon::cuda, the tests' single-threaded reference backend, or a
// user's own) models a concept by providing free functions found by argument-dependent lookup:
// each takes the backend object first (Thrust's execution-policy idiom) and views in the backend's
// memory space. Algorithms name the concept they need in a requires-clause, so a missing primitive
// is one error at the algorithm's call that names the concept and the missing expression.
//
//   memory_primitives<B, T>      make_buffer, copy (backend <-> backend / host), scratch
//   elementwise_primitives<B, T> fill, axpby, row_dot, normalize_rows, for_each_index/element
//   reduction_primitives<B, T>   sum, row_softmax, row_logsumexp, row_top_k, softmax_top_k,
//                                row_argmax/argmin, segment_sum_rows, add_column_sums,
//                                masked_mean_pool
//   gemm_primitives<B, T>        gemm
//   row_primitives<B, T>         gather_rows, scatter_rows, group_rows_by_key
//   random_primitives<B, T>      fill_normal, fill_uniform, row_axpby_noise, row_axpbypcz_noise
//   layer_primitives<B, T>       bias_activation, activation_backward, gated_activation(_backward),
//                                adamw_step
//   complete_backend<B, T>       all of the above (the MoE adaptor needs every group)
//
// T is the scalar the algorithm computes in (float or double). docs/primitives.md states each
// primitive's semantics; tests/conformance/ checks them for every backend.

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "../core/activation.hpp"
#include "../core/adamw.hpp"
#include "../core/backend.hpp"
#include "../core/config.hpp"
#include "../core/gemm_shape.hpp"
#include "../core/philox.hpp"
#include "../core/view.hpp"
#include "../core/workspace.hpp"

namespace beacon {

/// The memory space of backend B.
template <class B>
using space_of = typename B::memory_space;

namespace contract {
/// Functors of the shape the generic loops take (BEACON_HD: callable on the host and the device).
struct index_functor {
  BEACON_HD void operator()(size_type) const noexcept {}
};
struct element_functor {
  BEACON_HD void operator()(size_type, size_type) const noexcept {}
};
}  // namespace contract

/// Owning arrays in the backend's space, copies within it and across the host boundary (stream
/// ordered; synchronize() before reading a host destination), and the convenience scratch arena.
template <class B, class T>
concept memory_primitives = backend<B> && requires(const B& be, size_type n, std::size_t bytes,
                                                   vector_view<const T, space_of<B>> src, vector_view<T, space_of<B>> dst,
                                                   vector_view<const T, host_space> host_src, vector_view<T, host_space> host_dst) {
  { make_buffer<T>(be, n).view() } -> std::same_as<vector_view<T, space_of<B>>>;
  copy(be, src, dst);
  copy(be, host_src, dst);
  copy(be, src, host_dst);
  { be.scratch(bytes) } -> std::same_as<workspace_arena<space_of<B>>>;
};

/// Maps and loops: constant fill, out = a x + b y, per-row dot products and L2 normalisation, and
/// the two generic loops every module-specific kernel is written with (a BEACON_HD functor per
/// index or per (row, column)).
template <class B, class T>
concept elementwise_primitives = requires(const B& be, T a, matrix_view<const T, space_of<B>> x, matrix_view<T, space_of<B>> out,
                                          vector_view<T, space_of<B>> v, matrix_view<index_type, space_of<B>> ids, size_type n) {
  fill(be, a, out);
  fill(be, index_type{0}, ids);
  axpby(be, a, x, a, x, out);
  row_dot(be, x, x, v);
  normalize_rows(be, x, out);
  for_each_index(be, n, contract::index_functor{});
  for_each_index(be, n, contract::index_functor{}, n);
  for_each_element(be, n, n, contract::element_functor{});
};

/// Reductions over all values, rows, row segments and columns (row-wise softmax family included).
template <class B, class T>
concept reduction_primitives = requires(const B& be, matrix_view<const T, space_of<B>> x, matrix_view<T, space_of<B>> out,
                                        vector_view<const T, space_of<B>> xv, vector_view<T, space_of<B>> v,
                                        vector_view<index_type, space_of<B>> ids, matrix_view<index_type, space_of<B>> id_matrix,
                                        vector_view<const index_type, space_of<B>> offsets,
                                        matrix_view<const std::uint8_t, space_of<B>> byte_mask, size_type k, bool renormalize) {
  sum(be, xv, v);
  row_softmax(be, x, out);
  row_logsumexp(be, x, v);
  row_top_k(be, x, k, out, id_matrix);
  softmax_top_k(be, x, k, renormalize, out, id_matrix);
  row_argmax(be, x, ids);
  row_argmin(be, x, ids);
  segment_sum_rows(be, x, offsets, out);
  add_column_sums(be, x, v);
  masked_mean_pool(be, x, byte_mask, out);
  masked_mean_pool(be, x, x, out);
};

/// c = alpha op(a) op(b) + beta c (row-major views, op = transpose or not).
template <class B, class T>
concept gemm_primitives = requires(const B& be, T s, matrix_view<const T, space_of<B>> a, matrix_view<T, space_of<B>> c) {
  gemm(be, transpose::no, transpose::yes, s, a, a, s, c);
};

/// Row movement by index: gather, scatter, and a stable counting sort of rows by key.
template <class B, class T>
concept row_primitives = requires(const B& be, matrix_view<const T, space_of<B>> src, matrix_view<T, space_of<B>> dst,
                                  vector_view<const index_type, space_of<B>> index, vector_view<index_type, space_of<B>> out,
                                  size_type groups) {
  gather_rows(be, src, index, dst);
  scatter_rows(be, src, index, dst);
  group_rows_by_key(be, index, groups, out, out);
};

/// Counter-based (Philox) noise: element (i, j) of a draw uses counter offset + i * cols + j, so
/// every backend produces the same numbers for the same stream.
template <class B, class T>
concept random_primitives = requires(const B& be, philox_stream noise, vector_view<const T, space_of<B>> a,
                                     matrix_view<const T, space_of<B>> x, matrix_view<T, space_of<B>> out) {
  fill_normal(be, noise, out);
  fill_uniform(be, noise, out);
  row_axpby_noise(be, a, x, a, noise, out);
  row_axpbypcz_noise(be, a, x, a, x, a, noise, out);
};

/// Dense-layer pieces: bias + activation and its backward, the gated (SwiGLU) activation and its
/// backward, and the AdamW update.
template <class B, class T>
concept layer_primitives = requires(const B& be, activation act, vector_view<const T, space_of<B>> bias,
                                    matrix_view<const T, space_of<B>> x, matrix_view<T, space_of<B>> z,
                                    vector_view<T, space_of<B>> value, vector_view<const T, space_of<B>> grad,
                                    const adamw_coefficients& c) {
  bias_activation(be, act, bias, z, z);
  activation_backward(be, act, x, x, z);
  gated_activation(be, act, x, x, z);
  gated_activation_backward(be, act, x, x, x, z, z);
  adamw_step(be, c, value, grad, value, value);
};

/// Every primitive group, for T and for index arrays.
template <class B, class T>
concept complete_backend = memory_primitives<B, T> && memory_primitives<B, index_type> && elementwise_primitives<B, T> &&
                           reduction_primitives<B, T> && gemm_primitives<B, T> && row_primitives<B, T> &&
                           random_primitives<B, T> && layer_primitives<B, T>;

}  // namespace beacon
