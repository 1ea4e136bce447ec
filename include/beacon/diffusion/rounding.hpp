#pragma once
// Rounding x0_hat to the nearest embedding row (the "clamping trick"): for each row x,
// argmin_v ||E_v||^2 - 2 E_v . x (||x||^2 is constant per row, so it cannot change the arg-min), via
// the backend GEMM in row chunks so the N x V distance matrix is never resident at once.
// Ties go to the lower token id. The reference clamps the squared distance at 0 before the arg-min;
// the unclamped value orders the same rows except among candidates that would all clamp to 0,
// where it keeps the closer one instead of an arbitrary one.

#include <algorithm>

#include "../backend/checks.hpp"
#include "../core/backend.hpp"
#include "../core/gemm_shape.hpp"
#include "../core/workspace.hpp"

namespace beacon::diffusion {

/// norms[v] = ||E_v||^2; compute once per embedding matrix and reuse for every rounding call.
template <backend B, class E, class T>
void embedding_squared_norms(const B& be, matrix_view<E, typename B::memory_space> embedding,
                             vector_view<T, typename B::memory_space> norms) {
  row_dot(be, embedding, embedding, norms);
}

/// Rows of x handled per GEMM chunk so that a chunk of distances fits in `budget_bytes`.
template <class T>
size_type rounding_chunk_rows(size_type vocab, std::size_t budget_bytes = std::size_t{64} << 20) {
  return std::max<size_type>(1, static_cast<size_type>(budget_bytes / (sizeof(T) * static_cast<std::size_t>(std::max<size_type>(vocab, 1)))));
}

/// ids[i] = nearest embedding row of x(i, :). Scratch: chunk x V distances plus chunk indices.
template <backend B, class X, class E, class N>
void nearest_embedding(const B& be, matrix_view<X, typename B::memory_space> x, matrix_view<E, typename B::memory_space> embedding,
                       vector_view<N, typename B::memory_space> norms, vector_view<index_type, typename B::memory_space> ids,
                       size_type chunk_rows = 0) {
  using T = std::remove_const_t<X>;
  using space = typename B::memory_space;
  beacon::detail::require_extent("nearest_embedding", "embedding", "cols (x.cols)", embedding.cols(), x.cols());
  beacon::detail::require_extent("nearest_embedding", "norms", "size (embedding.rows)", norms.size(), embedding.rows());
  beacon::detail::require_extent("nearest_embedding", "ids", "size (x.rows)", ids.size(), x.rows());
  if (embedding.rows() < 1) beacon::detail::fail("nearest_embedding", "embedding", "at least one row", "0 rows");
  const size_type vocab = embedding.rows();
  const size_type chunk = std::min(x.rows(), chunk_rows > 0 ? chunk_rows : rounding_chunk_rows<T>(vocab));
  if (chunk == 0) return;
  auto arena = be.scratch(workspace_layout().template add<T>(chunk * vocab).template add<index_type>(chunk).bytes());
  auto distances_all = arena.template take<T>(chunk * vocab);
  auto zeros = arena.template take<index_type>(chunk);
  fill(be, index_type{0}, zeros.as_matrix(chunk, 1));
  const matrix_view<const T, space> norms_row(norms.data(), 1, vocab);
  for (size_type first = 0; first < x.rows(); first += chunk) {
    const size_type n = std::min(chunk, x.rows() - first);
    auto distances = distances_all.as_matrix(chunk, vocab).row_block(0, n);
    // Every row starts as ||E||^2, then the GEMM adds -2 x E^T.
    gather_rows(be, norms_row, vector_view<const index_type, space>(zeros.data(), n), distances);
    gemm(be, transpose::no, transpose::yes, T(-2), x.row_block(first, n), embedding, T(1), distances);
    row_argmin(be, matrix_view<const T, space>(distances), vector_view<index_type, space>(ids.data() + first, n));
  }
}

/// Rounds x in place-free form: out(i) = E[nearest(i)], ids as above.
template <backend B, class X, class E, class N, class T>
void round_to_embedding(const B& be, matrix_view<X, typename B::memory_space> x, matrix_view<E, typename B::memory_space> embedding,
                        vector_view<N, typename B::memory_space> norms, vector_view<index_type, typename B::memory_space> ids,
                        matrix_view<T, typename B::memory_space> out) {
  nearest_embedding(be, x, embedding, norms, ids, 0);
  gather_rows(be, embedding, vector_view<const index_type, typename B::memory_space>(ids), out);
}

}  // namespace beacon::diffusion
