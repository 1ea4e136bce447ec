// SPDX-License-Identifier: Apache-2.0
#pragma once
// Nearest reference row under squared Euclidean distance, for any backend: the k-means assignment
// step and diffusion's rounding to the embedding table are the same computation.
//
// argmin_c ||c||^2 - 2 c . x  (||x||^2 is constant per row), via one backend GEMM per chunk of rows
// so the N x C distance matrix is never resident at once; ties go to the lower reference index.
// Scratch the CUB way: nearest_rows_workspace_bytes() says how much, the caller passes it (or the
// convenience overload takes it from be.scratch()).

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "../core/backend.hpp"
#include "../core/gemm_shape.hpp"
#include "../core/workspace.hpp"
#include "../core/config.hpp"
#include "checks.hpp"
#include "contract.hpp"

namespace beacon {

/// Rows of x per chunk so a chunk of distances fits in `budget_bytes` (64 MB by default).
template <class T>
size_type nearest_row_chunk(size_type references, std::size_t budget_bytes = std::size_t{64} << 20) {
  const auto per_row = sizeof(T) * static_cast<std::size_t>(std::max<size_type>(references, 1));
  return std::max<size_type>(1, static_cast<size_type>(budget_bytes / per_row));
}

namespace kernels {
/// Grid: rows x C. out(r, c) = row[c]: every row starts as the references' squared norms.
template <class T, class S>
struct broadcast_row {
  vector_view<const T, S> row;
  matrix_view<T, S> out;
  BEACON_HD void operator()(size_type r, size_type c) const { out(r, c) = row[c]; }
};
}  // namespace kernels

/// Rows per chunk nearest_rows uses for `rows` query rows (chunk_rows = 0: nearest_row_chunk).
template <class T>
size_type nearest_rows_chunk(size_type rows, size_type references, size_type chunk_rows = 0) {
  return std::min(rows, chunk_rows > 0 ? chunk_rows : nearest_row_chunk<T>(references));
}

/// Scratch bytes nearest_rows needs: a chunk of distances (chunk x C).
template <class T>
std::size_t nearest_rows_workspace_bytes(size_type rows, size_type references, size_type chunk_rows = 0) {
  return workspace_layout().template add<T>(nearest_rows_chunk<T>(rows, references, chunk_rows) * references).bytes();
}

/// ids[i] = argmin_c ||ref_c - x_i||^2 given ref_norms[c] = ||ref_c||^2 (row_dot(ref, ref)).
/// Scratch (nearest_rows_workspace_bytes<T>(x.rows, refs.rows, chunk_rows)) from `workspace`.
template <backend B, class X, class R, class N>
  requires gemm_primitives<B, std::remove_const_t<X>> && reduction_primitives<B, std::remove_const_t<X>> &&
           elementwise_primitives<B, std::remove_const_t<X>>
void nearest_rows(const B& be, matrix_view<X, space_of<B>> x, matrix_view<R, space_of<B>> refs, vector_view<N, space_of<B>> ref_norms,
                  vector_view<index_type, space_of<B>> ids, size_type chunk_rows, workspace_arena<space_of<B>>& workspace) {
  using T = std::remove_const_t<X>;
  using space = space_of<B>;
  detail::require_extent("nearest_rows", "refs", "cols (x.cols)", refs.cols(), x.cols());
  detail::require_extent("nearest_rows", "ref_norms", "size (refs.rows)", ref_norms.size(), refs.rows());
  detail::require_extent("nearest_rows", "ids", "size (x.rows)", ids.size(), x.rows());
  if (refs.rows() < 1) detail::fail("nearest_rows", "refs", "at least one row", "0 rows");
  const size_type count = refs.rows();
  const size_type chunk = nearest_rows_chunk<T>(x.rows(), count, chunk_rows);
  if (chunk == 0) return;
  auto distances_all = workspace.template take<T>(chunk * count);
  for (size_type first = 0; first < x.rows(); first += chunk) {
    const size_type n = std::min(chunk, x.rows() - first);
    auto distances = distances_all.as_matrix(chunk, count).row_block(0, n);
    // Every row starts as ||ref||^2; the GEMM adds -2 x ref^T.
    for_each_element(be, n, count, kernels::broadcast_row<T, space>{vector_view<const T, space>(ref_norms.data(), count), distances});
    gemm(be, transpose::no, transpose::yes, T(-2), x.row_block(first, n), refs, T(1), distances);
    row_argmin(be, matrix_view<const T, space>(distances), vector_view<index_type, space>(ids.data() + first, n));
  }
}

/// As above with scratch from the backend's own arena (be.scratch()); chunk_rows = 0 picks a chunk
/// of at most 64 MB of distances.
template <backend B, class X, class R, class N>
  requires memory_primitives<B, std::remove_const_t<X>>
void nearest_rows(const B& be, matrix_view<X, space_of<B>> x, matrix_view<R, space_of<B>> refs, vector_view<N, space_of<B>> ref_norms,
                  vector_view<index_type, space_of<B>> ids, size_type chunk_rows = 0) {
  auto workspace = be.scratch(nearest_rows_workspace_bytes<std::remove_const_t<X>>(x.rows(), refs.rows(), chunk_rows));
  nearest_rows(be, x, refs, ref_norms, ids, chunk_rows, workspace);
}

}  // namespace beacon
