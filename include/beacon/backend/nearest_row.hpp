// SPDX-License-Identifier: Apache-2.0
#pragma once
// Nearest reference row under squared Euclidean distance, for any backend: the k-means assignment
// step and diffusion's rounding to the embedding table are the same computation.
//
// argmin_c ||c||^2 - 2 c . x  (||x||^2 is constant per row), via one backend GEMM per chunk of rows
// so the N x C distance matrix is never resident at once; ties go to the lower reference index.

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "../core/backend.hpp"
#include "../core/gemm_shape.hpp"
#include "../core/workspace.hpp"
#include "checks.hpp"

namespace beacon {

/// Rows of x per chunk so a chunk of distances fits in `budget_bytes` (64 MB by default).
template <class T>
size_type nearest_row_chunk(size_type references, std::size_t budget_bytes = std::size_t{64} << 20) {
  const auto per_row = sizeof(T) * static_cast<std::size_t>(std::max<size_type>(references, 1));
  return std::max<size_type>(1, static_cast<size_type>(budget_bytes / per_row));
}

/// ids[i] = argmin_c ||ref_c - x_i||^2 given ref_norms[c] = ||ref_c||^2 (row_dot(ref, ref)).
/// Scratch from the backend: chunk x C distances plus chunk indices.
template <backend B, class X, class R, class N>
void nearest_rows(const B& be, matrix_view<X, typename B::memory_space> x, matrix_view<R, typename B::memory_space> refs,
                  vector_view<N, typename B::memory_space> ref_norms, vector_view<index_type, typename B::memory_space> ids,
                  size_type chunk_rows = 0) {
  using T = std::remove_const_t<X>;
  using space = typename B::memory_space;
  detail::require_extent("nearest_rows", "refs", "cols (x.cols)", refs.cols(), x.cols());
  detail::require_extent("nearest_rows", "ref_norms", "size (refs.rows)", ref_norms.size(), refs.rows());
  detail::require_extent("nearest_rows", "ids", "size (x.rows)", ids.size(), x.rows());
  if (refs.rows() < 1) detail::fail("nearest_rows", "refs", "at least one row", "0 rows");
  const size_type count = refs.rows();
  const size_type chunk = std::min(x.rows(), chunk_rows > 0 ? chunk_rows : nearest_row_chunk<T>(count));
  if (chunk == 0) return;
  auto arena = be.scratch(workspace_layout().template add<T>(chunk * count).template add<index_type>(chunk).bytes());
  auto distances_all = arena.template take<T>(chunk * count);
  auto zeros = arena.template take<index_type>(chunk);
  fill(be, index_type{0}, zeros.as_matrix(chunk, 1));
  const matrix_view<const T, space> norms_row(ref_norms.data(), 1, count);
  for (size_type first = 0; first < x.rows(); first += chunk) {
    const size_type n = std::min(chunk, x.rows() - first);
    auto distances = distances_all.as_matrix(chunk, count).row_block(0, n);
    // Every row starts as ||ref||^2; the GEMM adds -2 x ref^T.
    gather_rows(be, norms_row, vector_view<const index_type, space>(zeros.data(), n), distances);
    gemm(be, transpose::no, transpose::yes, T(-2), x.row_block(first, n), refs, T(1), distances);
    row_argmin(be, matrix_view<const T, space>(distances), vector_view<index_type, space>(ids.data() + first, n));
  }
}

}  // namespace beacon
