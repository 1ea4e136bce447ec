// SPDX-License-Identifier: Apache-2.0
#pragma once
// Rounding x0_hat to the nearest embedding row (the "clamping trick"): for each row x,
// argmin_v ||E_v||^2 - 2 E_v . x (||x||^2 is constant per row, so it cannot change the arg-min), via
// the backend GEMM in row chunks so the N x V distance matrix is never resident at once.
// Ties go to the lower token id. The reference clamps the squared distance at 0 before the arg-min;
// the unclamped value orders the same rows except among candidates that would all clamp to 0,
// where it keeps the closer one instead of an arbitrary one.

#include "../backend/nearest_row.hpp"
#include "../core/backend.hpp"

namespace beacon::diffusion {

/// norms[v] = ||E_v||^2; compute once per embedding matrix and reuse for every rounding call.
template <backend B, class E, class T>
  requires elementwise_primitives<B, T>
void embedding_squared_norms(const B& be, matrix_view<E, typename B::memory_space> embedding,
                             vector_view<T, typename B::memory_space> norms) {
  row_dot(be, embedding, embedding, norms);
}

/// ids[i] = nearest embedding row of x(i, :) (backend/nearest_row.hpp does the work).
template <backend B, class X, class E, class N>
void nearest_embedding(const B& be, matrix_view<X, typename B::memory_space> x, matrix_view<E, typename B::memory_space> embedding,
                       vector_view<N, typename B::memory_space> norms, vector_view<index_type, typename B::memory_space> ids,
                       size_type chunk_rows = 0) {
  nearest_rows(be, x, embedding, norms, ids, chunk_rows);
}

/// out(i) = E[nearest(i)], ids as above.
template <backend B, class X, class E, class N, class T>
  requires row_primitives<B, T>
void round_to_embedding(const B& be, matrix_view<X, typename B::memory_space> x, matrix_view<E, typename B::memory_space> embedding,
                        vector_view<N, typename B::memory_space> norms, vector_view<index_type, typename B::memory_space> ids,
                        matrix_view<T, typename B::memory_space> out) {
  nearest_embedding(be, x, embedding, norms, ids, 0);
  gather_rows(be, embedding, vector_view<const index_type, typename B::memory_space>(ids), out);
}

}  // namespace beacon::diffusion
