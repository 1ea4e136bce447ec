// SPDX-License-Identifier: Apache-2.0
#pragma once
// Grouped expert FFNs on any backend: every expert runs once over its contiguous group of rows of
// the expert-grouped buffer (grouped_dispatch.hpp), one backend GEMM per layer and expert (cuBLAS on
// CUDA, Eigen on the CPU), with fused elementwise kernels between them. Forward and backward are
// the math of mlp_expert<act> and swiglu_expert (PyTorch Linear layout W (out x in), y = x W^T + b),
// and the Eigen oracle under tests/oracle agrees with them to GEMM rounding.
//
//   mlp     z = x W1^T + b1, a = act(z), y = a W2^T + b2
//   swiglu  a = x W_gate^T, b = x W_up^T, u = SiLU(a) * b, y = u W_down^T
//
// Weights are views (the caller owns them, e.g. an adaptor's parameters); gradients accumulate (+=) into caller views, and an empty gradient view means "frozen:
// do not compute". Group sizes come from host offsets (E + 1 entries, downloaded once after
// dispatch): a GEMM's dimensions are host values, so this is the one host round trip per layer call.

#include <algorithm>
#include <vector>

#include "../backend/checks.hpp"
#include "../core/activation.hpp"
#include "../core/backend.hpp"
#include "../core/gemm_shape.hpp"
#include "../core/workspace.hpp"

namespace beacon::moe {

template <class T, class Space>
struct mlp_weights {
  matrix_view<const T, Space> w1;  ///< h x d
  vector_view<const T, Space> b1;  ///< h (empty: no bias)
  matrix_view<const T, Space> w2;  ///< d x h
  vector_view<const T, Space> b2;  ///< d (empty: no bias)
};
template <class T, class Space>
struct mlp_gradients {  ///< accumulated into; an empty view is skipped (frozen)
  matrix_view<T, Space> w1;
  vector_view<T, Space> b1;
  matrix_view<T, Space> w2;
  vector_view<T, Space> b2;
};
template <class T, class Space>
struct mlp_cache {  ///< grouped rows x h: pre-activation z and activation a (kept for backward)
  matrix_view<T, Space> z, a;
};

template <class T, class Space>
struct swiglu_weights {
  matrix_view<const T, Space> gate, up;  ///< h x d
  matrix_view<const T, Space> down;      ///< d x h
};
template <class T, class Space>
struct swiglu_gradients {  ///< accumulated into; an empty view is skipped (frozen)
  matrix_view<T, Space> gate, up, down;
};
template <class T, class Space>
struct swiglu_cache {  ///< grouped rows x h: x W_gate^T, x W_up^T, SiLU(a) * b
  matrix_view<T, Space> a, b, u;
};

namespace detail {

/// Host offsets of E groups over `rows` grouped rows; returns the largest group.
inline size_type check_group_offsets(const char* fn, const std::vector<index_type>& offsets, size_type experts, size_type rows) {
  beacon::require_extent(fn, "offsets", "size (experts + 1)", static_cast<size_type>(offsets.size()), experts + 1);
  if (offsets.front() != 0) beacon::fail(fn, "offsets[0]", "0", offsets.front());
  if (offsets.back() != rows)
    beacon::fail<shape_error>(fn, "offsets[experts]", beacon::concat("the grouped row count (", rows, ")"), offsets.back());
  size_type largest = 0;
  for (std::size_t e = 0; e + 1 < offsets.size(); ++e) {
    if (offsets[e + 1] < offsets[e])
      beacon::fail(fn, "offsets", "non-decreasing entries", beacon::concat(offsets[e + 1], " after ", offsets[e], " at position ", e + 1));
    largest = std::max<size_type>(largest, offsets[e + 1] - offsets[e]);
  }
  return largest;
}

template <class M, class S>
void check_matrix(const char* fn, const char* arg, std::size_t expert, const matrix_view<M, S>& m, size_type rows, size_type cols) {
  if (m.rows() != rows || m.cols() != cols)
    beacon::fail<shape_error>(fn, arg, beacon::concat(rows, "x", cols, " (expert ", expert, ")"),
                                      beacon::concat(m.rows(), "x", m.cols()));
}
template <class V, class S>
void check_vector(const char* fn, const char* arg, std::size_t expert, const vector_view<V, S>& v, size_type size) {
  if (!v.empty() && v.size() != size)
    beacon::fail<shape_error>(fn, arg, beacon::concat("size ", size, " or empty (expert ", expert, ")"), v.size());
}
template <class M, class S>
void check_optional_matrix(const char* fn, const char* arg, std::size_t expert, const matrix_view<M, S>& m, size_type rows, size_type cols) {
  if (!m.empty()) check_matrix(fn, arg, expert, m, rows, cols);
}

template <class X, class C, class Y, class S>
void check_grouped_rows(const char* fn, const matrix_view<X, S>& x, const matrix_view<C, S>& cache_first, size_type hidden,
                        const matrix_view<Y, S>& y, const char* y_name) {
  beacon::require_extent(fn, "cache", "rows (x.rows)", cache_first.rows(), x.rows());
  beacon::require_extent(fn, "cache", "cols (hidden)", cache_first.cols(), hidden);
  beacon::require_same_shape(fn, y_name, x, y);
}

}  // namespace detail

/// y (grouped rows x d) = the MLP expert e over its rows [offsets[e], offsets[e+1]) of x, for
/// every e. cache.z / cache.a (grouped rows x h) keep what backward needs.
template <backend B, class T>
void grouped_mlp_forward(const B& be, activation act, const std::vector<mlp_weights<T, typename B::memory_space>>& experts,
                         const std::vector<index_type>& offsets, matrix_view<const T, typename B::memory_space> x,
                         const mlp_cache<T, typename B::memory_space>& cache, matrix_view<T, typename B::memory_space> y) {
  using space = typename B::memory_space;
  const char* fn = "moe::grouped_mlp_forward";
  const auto count = static_cast<size_type>(experts.size());
  detail::check_group_offsets(fn, offsets, count, x.rows());
  const size_type d = x.cols(), h = cache.z.cols();
  detail::check_grouped_rows(fn, x, cache.z, h, y, "y");
  beacon::require_same_shape(fn, "cache.a", cache.z, cache.a);
  for (std::size_t e = 0; e < experts.size(); ++e) {
    const auto& w = experts[e];
    detail::check_matrix(fn, "experts.w1", e, w.w1, h, d);
    detail::check_vector(fn, "experts.b1", e, w.b1, h);
    detail::check_matrix(fn, "experts.w2", e, w.w2, d, h);
    detail::check_vector(fn, "experts.b2", e, w.b2, d);
  }
  for (std::size_t e = 0; e < experts.size(); ++e) {
    const size_type lo = offsets[e], n = offsets[e + 1] - lo;
    if (n == 0) continue;  // an expert without tokens launches nothing
    const auto& w = experts[e];
    const auto z = cache.z.row_block(lo, n), a = cache.a.row_block(lo, n), ye = y.row_block(lo, n);
    gemm(be, transpose::no, transpose::yes, T(1), x.row_block(lo, n), w.w1, T(0), z);
    bias_activation(be, act, w.b1, z, a);
    gemm(be, transpose::no, transpose::yes, T(1), matrix_view<const T, space>(a), w.w2, T(0), ye);
    if (!w.b2.empty()) bias_activation(be, activation::identity, w.b2, ye, ye);
  }
}

/// Accumulates the MLP experts' weight gradients from dy (grouped rows x d, already gate-weighted:
/// gather_gated_pairs) and, if dx is non-empty, writes dx (grouped rows x d). Scratch: largest
/// group x h.
/// The largest group of a grouping (offsets[e + 1] - offsets[e]; 0 for none).
inline size_type largest_group(const std::vector<index_type>& offsets) {
  size_type largest = 0;
  for (std::size_t e = 0; e + 1 < offsets.size(); ++e) largest = std::max<size_type>(largest, offsets[e + 1] - offsets[e]);
  return largest;
}

/// Scratch bytes grouped_mlp_backward needs: the largest group's rows x h.
template <class T>
std::size_t grouped_mlp_backward_workspace_bytes(const std::vector<index_type>& offsets, size_type h) {
  return workspace_layout().template add<T>(largest_group(offsets) * h).bytes();
}

template <backend B, class T>
void grouped_mlp_backward(const B& be, activation act, const std::vector<mlp_weights<T, typename B::memory_space>>& experts,
                          const std::vector<mlp_gradients<T, typename B::memory_space>>& grads, const std::vector<index_type>& offsets,
                          matrix_view<const T, typename B::memory_space> x, const mlp_cache<T, typename B::memory_space>& cache,
                          matrix_view<const T, typename B::memory_space> dy, matrix_view<T, typename B::memory_space> dx,
                          workspace_arena<typename B::memory_space>& workspace) {
  using space = typename B::memory_space;
  const char* fn = "moe::grouped_mlp_backward";
  const auto count = static_cast<size_type>(experts.size());
  const size_type largest = detail::check_group_offsets(fn, offsets, count, x.rows());
  beacon::require_extent(fn, "grads", "size (experts.size)", static_cast<size_type>(grads.size()), count);
  const size_type d = x.cols(), h = cache.z.cols();
  detail::check_grouped_rows(fn, x, cache.z, h, dy, "dy");
  beacon::require_same_shape(fn, "cache.a", cache.z, cache.a);
  const bool want_dx = dx.rows() > 0;
  if (want_dx) beacon::require_same_shape(fn, "dx", x, dx);
  for (std::size_t e = 0; e < experts.size(); ++e) {
    detail::check_matrix(fn, "experts.w1", e, experts[e].w1, h, d);
    detail::check_matrix(fn, "experts.w2", e, experts[e].w2, d, h);
    detail::check_optional_matrix(fn, "grads.w1", e, grads[e].w1, h, d);
    detail::check_vector(fn, "grads.b1", e, grads[e].b1, h);
    detail::check_optional_matrix(fn, "grads.w2", e, grads[e].w2, d, h);
    detail::check_vector(fn, "grads.b2", e, grads[e].b2, d);
  }
  const auto dz_all = workspace.template take<T>(largest * h);
  for (std::size_t e = 0; e < experts.size(); ++e) {
    const size_type lo = offsets[e], n = offsets[e + 1] - lo;
    const auto& w = experts[e];
    const auto& g = grads[e];
    const bool need_dz = !g.w1.empty() || !g.b1.empty() || want_dx;
    if (n == 0 || (g.w2.empty() && g.b2.empty() && !need_dz)) continue;
    const auto xe = x.row_block(lo, n), dye = dy.row_block(lo, n);
    const matrix_view<const T, space> z = cache.z.row_block(lo, n), a = cache.a.row_block(lo, n);
    if (!g.w2.empty()) gemm(be, transpose::yes, transpose::no, T(1), dye, a, T(1), g.w2);
    if (!g.b2.empty()) add_column_sums(be, dye, g.b2);
    if (!need_dz) continue;
    const auto dz = dz_all.as_matrix(largest, h).row_block(0, n);
    gemm(be, transpose::no, transpose::no, T(1), dye, w.w2, T(0), dz);
    activation_backward(be, act, z, matrix_view<const T, space>(dz), dz);
    if (!g.w1.empty()) gemm(be, transpose::yes, transpose::no, T(1), matrix_view<const T, space>(dz), xe, T(1), g.w1);
    if (!g.b1.empty()) add_column_sums(be, matrix_view<const T, space>(dz), g.b1);
    if (want_dx) gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, space>(dz), w.w1, T(0), dx.row_block(lo, n));
  }
}

/// y (grouped rows x d) = the SwiGLU expert e over its rows of x, for every e; cache.a/b/u
/// (grouped rows x h) keep what backward needs.
template <backend B, class T>
void grouped_swiglu_forward(const B& be, const std::vector<swiglu_weights<T, typename B::memory_space>>& experts,
                            const std::vector<index_type>& offsets, matrix_view<const T, typename B::memory_space> x,
                            const swiglu_cache<T, typename B::memory_space>& cache, matrix_view<T, typename B::memory_space> y) {
  using space = typename B::memory_space;
  const char* fn = "moe::grouped_swiglu_forward";
  const auto count = static_cast<size_type>(experts.size());
  detail::check_group_offsets(fn, offsets, count, x.rows());
  const size_type d = x.cols(), h = cache.a.cols();
  detail::check_grouped_rows(fn, x, cache.a, h, y, "y");
  beacon::require_same_shape(fn, "cache.b", cache.a, cache.b);
  beacon::require_same_shape(fn, "cache.u", cache.a, cache.u);
  for (std::size_t e = 0; e < experts.size(); ++e) {
    detail::check_matrix(fn, "experts.gate", e, experts[e].gate, h, d);
    detail::check_matrix(fn, "experts.up", e, experts[e].up, h, d);
    detail::check_matrix(fn, "experts.down", e, experts[e].down, d, h);
  }
  for (std::size_t e = 0; e < experts.size(); ++e) {
    const size_type lo = offsets[e], n = offsets[e + 1] - lo;
    if (n == 0) continue;
    const auto& w = experts[e];
    const auto xe = x.row_block(lo, n);
    const auto a = cache.a.row_block(lo, n), b = cache.b.row_block(lo, n), u = cache.u.row_block(lo, n);
    gemm(be, transpose::no, transpose::yes, T(1), xe, w.gate, T(0), a);
    gemm(be, transpose::no, transpose::yes, T(1), xe, w.up, T(0), b);
    gated_activation(be, activation::silu, matrix_view<const T, space>(a), matrix_view<const T, space>(b), u);
    gemm(be, transpose::no, transpose::yes, T(1), matrix_view<const T, space>(u), w.down, T(0), y.row_block(lo, n));
  }
}

/// Accumulates the SwiGLU experts' weight gradients from the gate-weighted dy and, if dx is
/// non-empty, writes dx. Scratch: 3 x largest group x h.
/// Scratch bytes grouped_swiglu_backward needs: 3 x the largest group's rows x h.
template <class T>
std::size_t grouped_swiglu_backward_workspace_bytes(const std::vector<index_type>& offsets, size_type h) {
  const size_type n = largest_group(offsets) * h;
  return workspace_layout().template add<T>(n).template add<T>(n).template add<T>(n).bytes();
}

template <backend B, class T>
void grouped_swiglu_backward(const B& be, const std::vector<swiglu_weights<T, typename B::memory_space>>& experts,
                             const std::vector<swiglu_gradients<T, typename B::memory_space>>& grads,
                             const std::vector<index_type>& offsets, matrix_view<const T, typename B::memory_space> x,
                             const swiglu_cache<T, typename B::memory_space>& cache, matrix_view<const T, typename B::memory_space> dy,
                             matrix_view<T, typename B::memory_space> dx,
                             workspace_arena<typename B::memory_space>& workspace) {
  using space = typename B::memory_space;
  const char* fn = "moe::grouped_swiglu_backward";
  const auto count = static_cast<size_type>(experts.size());
  const size_type largest = detail::check_group_offsets(fn, offsets, count, x.rows());
  beacon::require_extent(fn, "grads", "size (experts.size)", static_cast<size_type>(grads.size()), count);
  const size_type d = x.cols(), h = cache.a.cols();
  detail::check_grouped_rows(fn, x, cache.a, h, dy, "dy");
  beacon::require_same_shape(fn, "cache.b", cache.a, cache.b);
  beacon::require_same_shape(fn, "cache.u", cache.a, cache.u);
  const bool want_dx = dx.rows() > 0;
  if (want_dx) beacon::require_same_shape(fn, "dx", x, dx);
  for (std::size_t e = 0; e < experts.size(); ++e) {
    detail::check_matrix(fn, "experts.gate", e, experts[e].gate, h, d);
    detail::check_matrix(fn, "experts.up", e, experts[e].up, h, d);
    detail::check_matrix(fn, "experts.down", e, experts[e].down, d, h);
    detail::check_optional_matrix(fn, "grads.gate", e, grads[e].gate, h, d);
    detail::check_optional_matrix(fn, "grads.up", e, grads[e].up, h, d);
    detail::check_optional_matrix(fn, "grads.down", e, grads[e].down, d, h);
  }
  const auto du_all = workspace.template take<T>(largest * h), da_all = workspace.template take<T>(largest * h),
             db_all = workspace.template take<T>(largest * h);
  for (std::size_t e = 0; e < experts.size(); ++e) {
    const size_type lo = offsets[e], n = offsets[e + 1] - lo;
    const auto& w = experts[e];
    const auto& g = grads[e];
    const bool need_inner = !g.gate.empty() || !g.up.empty() || want_dx;
    if (n == 0 || (g.down.empty() && !need_inner)) continue;
    const auto xe = x.row_block(lo, n), dye = dy.row_block(lo, n);
    const matrix_view<const T, space> a = cache.a.row_block(lo, n), b = cache.b.row_block(lo, n), u = cache.u.row_block(lo, n);
    if (!g.down.empty()) gemm(be, transpose::yes, transpose::no, T(1), dye, u, T(1), g.down);
    if (!need_inner) continue;
    const auto du = du_all.as_matrix(largest, h).row_block(0, n), da = da_all.as_matrix(largest, h).row_block(0, n),
               db = db_all.as_matrix(largest, h).row_block(0, n);
    gemm(be, transpose::no, transpose::no, T(1), dye, w.down, T(0), du);
    gated_activation_backward(be, activation::silu, a, b, matrix_view<const T, space>(du), da, db);
    if (!g.gate.empty()) gemm(be, transpose::yes, transpose::no, T(1), matrix_view<const T, space>(da), xe, T(1), g.gate);
    if (!g.up.empty()) gemm(be, transpose::yes, transpose::no, T(1), matrix_view<const T, space>(db), xe, T(1), g.up);
    if (want_dx) {
      const auto dxe = dx.row_block(lo, n);
      gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, space>(da), w.gate, T(0), dxe);
      gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, space>(db), w.up, T(1), dxe);
    }
  }
}

/// grouped_mlp_backward with scratch from the backend's own arena (be.scratch()).
template <backend B, class T>
void grouped_mlp_backward(const B& be, activation act, const std::vector<mlp_weights<T, typename B::memory_space>>& experts,
                          const std::vector<mlp_gradients<T, typename B::memory_space>>& grads, const std::vector<index_type>& offsets,
                          matrix_view<const T, typename B::memory_space> x, const mlp_cache<T, typename B::memory_space>& cache,
                          matrix_view<const T, typename B::memory_space> dy, matrix_view<T, typename B::memory_space> dx) {
  auto workspace = be.scratch(grouped_mlp_backward_workspace_bytes<T>(offsets, cache.z.cols()));
  grouped_mlp_backward(be, act, experts, grads, offsets, x, cache, dy, dx, workspace);
}

/// grouped_swiglu_backward with scratch from the backend's own arena (be.scratch()).
template <backend B, class T>
void grouped_swiglu_backward(const B& be, const std::vector<swiglu_weights<T, typename B::memory_space>>& experts,
                             const std::vector<swiglu_gradients<T, typename B::memory_space>>& grads,
                             const std::vector<index_type>& offsets, matrix_view<const T, typename B::memory_space> x,
                             const swiglu_cache<T, typename B::memory_space>& cache, matrix_view<const T, typename B::memory_space> dy,
                             matrix_view<T, typename B::memory_space> dx) {
  auto workspace = be.scratch(grouped_swiglu_backward_workspace_bytes<T>(offsets, cache.a.cols()));
  grouped_swiglu_backward(be, experts, grads, offsets, x, cache, dy, dx, workspace);
}

}  // namespace beacon::moe
