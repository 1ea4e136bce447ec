// SPDX-License-Identifier: Apache-2.0
#pragma once
// Multi-head self-attention over ragged sequences and its backward pass, for the host models of
// `beacon edit-bench`, written once over backend primitives (gemm, row_softmax, for_each_index).
//
// Rows [offsets[s], offsets[s + 1]) of x are sequence s (no padding, no mask: every token attends to
// every token of its own sequence). With d = heads * dh and head h the columns [h dh, (h + 1) dh):
//   Q = x Wq^T, K = x Wk^T, V = x Wv^T;  P_sh = softmax(Q_sh K_sh^T / sqrt(dh));  O_sh = P_sh V_sh;
//   y = O Wo^T
// The backward, per sequence and head, with dO = dy Wo:
//   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)) / sqrt(dh),  dQ = dS K,  dK = dS^T Q
//   dW{q,k,v} += dX^T x (X = Q, K, V),  dWo += dy^T O,  dx = dQ Wq + dK Wk + dV Wv

#include <algorithm>
#include <cmath>
#include <vector>

#include <beacon/backend/contract.hpp>

namespace beacon::hosts {

/// The four projections (d x d each, no bias) and, for the backward, their gradients.
template <class T, class S>
struct attention_weights {
  matrix_view<const T, S> wq, wk, wv, wo;
};
template <class T, class S>
struct attention_gradients {
  matrix_view<T, S> wq, wk, wv, wo;
};

/// What the forward keeps for the backward: Q, K, V, O (rows x d each) and every head's attention
/// probabilities (sum over sequences of L_s^2, times heads).
template <class T, class S>
struct attention_cache {
  matrix_view<T, S> q, k, v, o;
  vector_view<T, S> probs;
};

/// Size of attention_cache::probs for these sequences.
inline size_type attention_probs_size(const std::vector<index_type>& offsets, size_type heads) {
  size_type n = 0;
  for (std::size_t s = 0; s + 1 < offsets.size(); ++s) n += (offsets[s + 1] - offsets[s]) * (offsets[s + 1] - offsets[s]);
  return n * heads;
}

namespace kernels {

/// Grid: rows of one head's L x L probabilities. dS = P * (dP - rowsum(dP * P)) * scale, in place of dP.
template <class T, class S>
struct softmax_backward_rows {
  matrix_view<const T, S> p;
  matrix_view<T, S> dp;
  T scale;
  BEACON_HD void operator()(size_type r) const {
    T dot = 0;
    for (size_type j = 0; j < p.cols(); ++j) dot += dp(r, j) * p(r, j);
    for (size_type j = 0; j < p.cols(); ++j) dp(r, j) = p(r, j) * (dp(r, j) - dot) * scale;
  }
};

}  // namespace kernels

namespace detail_attention {

inline void check_offsets(const char* fn, const std::vector<index_type>& offsets, size_type rows) {
  if (offsets.size() < 2 || offsets.front() != 0 || offsets.back() != rows)
    detail::fail(fn, "offsets", detail::concat("0 = offsets[0] <= ... <= offsets.back() = x.rows (", rows, ")"),
                 offsets.empty() ? index_type{-1} : offsets.back());
  for (std::size_t s = 0; s + 1 < offsets.size(); ++s)
    if (offsets[s + 1] < offsets[s]) detail::fail(fn, "offsets", "non-decreasing", detail::concat("offsets[", s + 1, "] = ", offsets[s + 1]));
}

/// Head h's columns of sequence rows [first, first + len) of m.
template <class T, class S>
matrix_view<T, S> head_block(matrix_view<T, S> m, size_type first, size_type len, size_type h, size_type dh) {
  return matrix_view<T, S>(m.data() + first * m.ld() + h * dh, len, dh, m.ld());
}

}  // namespace detail_attention

/// y = self-attention(x) of every sequence; `cache` receives what attention_backward needs.
template <class B, class T, class S = space_of<B>>
  requires gemm_primitives<B, T> && reduction_primitives<B, T>
void attention_forward(const B& be, matrix_view<const T, S> x, const std::vector<index_type>& offsets, size_type heads,
                       const attention_weights<T, S>& w, const attention_cache<T, S>& cache, matrix_view<T, S> y) {
  const char* fn = "hosts::attention_forward";
  const size_type d = x.cols();
  detail_attention::check_offsets(fn, offsets, x.rows());
  if (heads < 1 || d % heads != 0) detail::fail(fn, "heads", detail::concat("a divisor of d (", d, ")"), heads);
  detail::require_extent(fn, "cache.probs", "size (attention_probs_size)", cache.probs.size(), attention_probs_size(offsets, heads));
  const size_type dh = d / heads;
  gemm(be, transpose::no, transpose::yes, T(1), x, w.wq, T(0), cache.q);
  gemm(be, transpose::no, transpose::yes, T(1), x, w.wk, T(0), cache.k);
  gemm(be, transpose::no, transpose::yes, T(1), x, w.wv, T(0), cache.v);
  const T scale = T(1) / std::sqrt(static_cast<T>(dh));
  size_type at = 0;
  for (std::size_t s = 0; s + 1 < offsets.size(); ++s) {
    const size_type first = offsets[s], len = offsets[s + 1] - first;
    for (size_type h = 0; h < heads; ++h) {
      matrix_view<T, S> p(cache.probs.data() + at, len, len, len);
      at += len * len;
      using detail_attention::head_block;
      gemm(be, transpose::no, transpose::yes, scale, matrix_view<const T, S>(head_block(cache.q, first, len, h, dh)),
           matrix_view<const T, S>(head_block(cache.k, first, len, h, dh)), T(0), p);
      row_softmax(be, matrix_view<const T, S>(p), p);
      gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, S>(p), matrix_view<const T, S>(head_block(cache.v, first, len, h, dh)), T(0),
           head_block(cache.o, first, len, h, dh));
    }
  }
  gemm(be, transpose::no, transpose::yes, T(1), matrix_view<const T, S>(cache.o), w.wo, T(0), y);
}

/// Scratch of attention_backward for these sequences (elements of T).
inline size_type attention_backward_scratch_size(const std::vector<index_type>& offsets, size_type d) {
  size_type longest = 0;
  for (std::size_t s = 0; s + 1 < offsets.size(); ++s) longest = std::max<size_type>(longest, offsets[s + 1] - offsets[s]);
  return 4 * offsets.back() * d + longest * longest;
}

/// Accumulates the projections' gradients from dy and writes dx = dL/dx. `scratch` holds 4 rows x d
/// matrices (dO, dQ, dK, dV) plus one L x L block of the longest sequence: attention_backward_scratch_size.
template <class B, class T, class S = space_of<B>>
  requires gemm_primitives<B, T> && elementwise_primitives<B, T>
void attention_backward(const B& be, matrix_view<const T, S> x, const std::vector<index_type>& offsets, size_type heads,
                        const attention_weights<T, S>& w, const attention_cache<T, S>& cache, matrix_view<const T, S> dy,
                        const attention_gradients<T, S>& g, matrix_view<T, S> dx, vector_view<T, S> scratch) {
  const char* fn = "hosts::attention_backward";
  const size_type n = x.rows(), d = x.cols();
  detail_attention::check_offsets(fn, offsets, n);
  if (heads < 1 || d % heads != 0) detail::fail(fn, "heads", detail::concat("a divisor of d (", d, ")"), heads);
  detail::require_extent(fn, "scratch", "size (attention_backward_scratch_size)", scratch.size(), attention_backward_scratch_size(offsets, d));
  const size_type dh = d / heads;
  const T scale = T(1) / std::sqrt(static_cast<T>(dh));
  matrix_view<T, S> d_o(scratch.data(), n, d, d), dq(scratch.data() + n * d, n, d, d), dk(scratch.data() + 2 * n * d, n, d, d),
      dv(scratch.data() + 3 * n * d, n, d, d);
  gemm(be, transpose::no, transpose::no, T(1), dy, w.wo, T(0), d_o);
  gemm(be, transpose::yes, transpose::no, T(1), dy, matrix_view<const T, S>(cache.o), T(1), g.wo);
  using detail_attention::head_block;
  size_type at = 0;
  for (std::size_t s = 0; s + 1 < offsets.size(); ++s) {
    const size_type first = offsets[s], len = offsets[s + 1] - first;
    for (size_type h = 0; h < heads; ++h) {
      const matrix_view<const T, S> p(cache.probs.data() + at, len, len, len);
      at += len * len;
      matrix_view<T, S> ds(scratch.data() + 4 * n * d, len, len, len);
      const matrix_view<const T, S> doh(head_block(d_o, first, len, h, dh)), qh(head_block(cache.q, first, len, h, dh)),
          kh(head_block(cache.k, first, len, h, dh)), vh(head_block(cache.v, first, len, h, dh));
      gemm(be, transpose::yes, transpose::no, T(1), p, doh, T(0), head_block(dv, first, len, h, dh));
      gemm(be, transpose::no, transpose::yes, T(1), doh, vh, T(0), ds);
      for_each_index(be, len, kernels::softmax_backward_rows<T, S>{p, ds, scale}, len);
      gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, S>(ds), kh, T(0), head_block(dq, first, len, h, dh));
      gemm(be, transpose::yes, transpose::no, T(1), matrix_view<const T, S>(ds), qh, T(0), head_block(dk, first, len, h, dh));
    }
  }
  gemm(be, transpose::yes, transpose::no, T(1), matrix_view<const T, S>(dq), x, T(1), g.wq);
  gemm(be, transpose::yes, transpose::no, T(1), matrix_view<const T, S>(dk), x, T(1), g.wk);
  gemm(be, transpose::yes, transpose::no, T(1), matrix_view<const T, S>(dv), x, T(1), g.wv);
  gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, S>(dq), w.wq, T(0), dx);
  gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, S>(dk), w.wk, T(1), dx);
  gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, S>(dv), w.wv, T(1), dx);
}

}  // namespace beacon::hosts
