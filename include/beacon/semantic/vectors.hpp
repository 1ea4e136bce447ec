// SPDX-License-Identifier: Apache-2.0
#pragma once
// Semantic vectors (spec semantic_peft.md §2.2a-b) through the frozen embedding matrix E (V x D):
//   sequence vectors   sem(y) = mean_j E[y_j] (MEAN) or E[y_1] (FIRST) over the masked tokens
//   expected embedding o = E^T softmax(z)          (differentiable; EXPECTED)
//   argmax embedding   o = E[argmax z]              (greedy; ARGMAX)
// E is only ever read through views: no copy of the V x D matrix is made.

#include <cstdint>
#include <type_traits>

#include "../core/backend.hpp"
#include "../core/gemm_shape.hpp"
#include "../core/workspace.hpp"
#include "../backend/cpu/cpu.hpp"
#include "../backend/checks.hpp"
#include "../backend/contract.hpp"

namespace beacon::semantic {

enum class pooling { mean, first };

/// out(b) = pooled E rows of the masked tokens of sequence b (ids: B x m, mask: B x m, nonzero =
/// counted). A sequence without a counted token is a value_error.
template <class E, class I, class M, class T>
void sequence_vectors(const cpu& /*be*/, matrix_view<E, host_space> embedding, matrix_view<I, host_space> ids,
                      matrix_view<M, host_space> mask, pooling mode, matrix_view<T, host_space> out) {
  const char* fn = "sequence_vectors";
  beacon::detail::require_same_shape(fn, "mask", ids, mask);
  beacon::detail::require_extent(fn, "out", "rows (ids.rows)", out.rows(), ids.rows());
  beacon::detail::require_extent(fn, "out", "cols (embedding.cols)", out.cols(), embedding.cols());
  for (size_type b = 0; b < ids.rows(); ++b) {
    size_type count = 0;
    T* o = out.row(b);
    for (size_type j = 0; j < out.cols(); ++j) o[j] = T(0);
    for (size_type t = 0; t < ids.cols(); ++t) {
      if (mask(b, t) == M(0)) continue;
      const auto id = ids(b, t);
      if (id < 0 || id >= embedding.rows())
        beacon::detail::fail(fn, "ids", beacon::detail::concat("token ids in [0, ", embedding.rows(), ")"),
                             beacon::detail::concat(id, " at (", b, ", ", t, ")"));
      for (size_type j = 0; j < out.cols(); ++j) o[j] += static_cast<T>(embedding(id, j));
      ++count;
      if (mode == pooling::first) break;
    }
    if (count == 0)
      beacon::detail::fail(fn, "mask", "at least one counted token per sequence", beacon::detail::concat("an empty row ", b));
    for (size_type j = 0; j < out.cols(); ++j) o[j] /= static_cast<T>(count);
  }
}

/// probs = softmax(logits) (row-wise) and out = probs E: the expected embedding of every row.
/// `probs` (N x V) is the caller's buffer so the backward pass can reuse it; it is written once.
template <backend B, class Z, class E, class P, class T>
  requires reduction_primitives<B, T> && gemm_primitives<B, T>
void expected_embeddings(const B& be, matrix_view<Z, typename B::memory_space> logits, matrix_view<E, typename B::memory_space> embedding,
                         matrix_view<P, typename B::memory_space> probs, matrix_view<T, typename B::memory_space> out) {
  beacon::detail::require_extent("expected_embeddings", "embedding", "rows (logits.cols)", embedding.rows(), logits.cols());
  row_softmax(be, logits, probs);
  gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, typename B::memory_space>(probs), embedding, T(0), out);
}

/// ids = argmax of each row (ties to the lower id) and out = E[ids].
template <backend B, class Z, class E, class T>
  requires reduction_primitives<B, T> && row_primitives<B, T>
void argmax_embeddings(const B& be, matrix_view<Z, typename B::memory_space> logits, matrix_view<E, typename B::memory_space> embedding,
                       vector_view<index_type, typename B::memory_space> ids, matrix_view<T, typename B::memory_space> out) {
  beacon::detail::require_extent("argmax_embeddings", "embedding", "rows (logits.cols)", embedding.rows(), logits.cols());
  row_argmax(be, logits, ids);
  gather_rows(be, embedding, vector_view<const index_type, typename B::memory_space>(ids), out);
}

}  // namespace beacon::semantic
