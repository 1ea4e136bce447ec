// SPDX-License-Identifier: Apache-2.0
#pragma once
// Row softmax, row top-k, the fused softmax + top-k router primitive, and row arg-max / arg-min on
// the CUDA backend. Ties always go to the lower column index, as on the CPU backend, so indices
// (and top-k values) match the CPU exactly.
//
// The router kernel follows vLLM / TensorRT-LLM's topk_softmax: one lane group per row (several
// rows per warp when cols <= 16), the row held in registers (up to 512 columns), butterfly
// shuffles for the max, the sum and the arg-max, then k arg-max passes with each winner masked
// out. Wider rows use a streaming variant: one warp per row re-reads the row each pass and takes
// the best entry after the previous winner in the (value desc, index asc) order, which masks the
// winners without storing them (k passes over the row: meant for moderate k).
//
// The CPU backend rejects NaN (and, for softmax, +inf or a row of only -inf) with value_error.
// That check needs the data on the host, so it is not done here: such rows give unspecified
// values (NaN in softmax) and indices in [0, cols) or -1, never an out-of-bounds access.

#include <type_traits>

#include "../checks.hpp"
#include "launch.cuh"

namespace beacon {

namespace detail {

/// The maximum of row r over its lane group (every lane of the group gets it); -inf for an invalid row.
template <class In>
__device__ inline std::remove_const_t<In> row_group_max(const matrix_view<In, device_space>& in, size_type r, bool valid, const row_group& g,
                                                        int lanes) {
  using T = std::remove_const_t<In>;
  T m = negative_infinity<T>();
  if (valid)
    for (size_type j = g.sub; j < in.cols(); j += lanes) {
      const T v = in(r, j);
      m = v > m ? v : m;
    }
  return group_max(m, lanes);
}

template <class In, class T>
__global__ void __launch_bounds__(block_threads)
    row_softmax_kernel(matrix_view<In, device_space> in, matrix_view<T, device_space> out, int lanes) {
  const row_group g = make_row_group(lanes);
  const size_type cols = in.cols();
  const T ninf = negative_infinity<T>();
  for (size_type base = g.first; base < in.rows(); base += g.step) {
    const size_type r = base + g.group;
    const bool valid = r < in.rows();
    const T m = row_group_max(in, r, valid, g, lanes);
    // Each lane writes only the columns it has read, after reading them, so out may alias in.
    // -inf entries are masks: exactly 0, as on the CPU.
    T s = T(0);
    if (valid)
      for (size_type j = g.sub; j < cols; j += lanes) {
        const T v = in(r, j);
        const T e = v > ninf ? device_exp(v - m) : T(0);
        out(r, j) = e;
        s += e;
      }
    s = group_sum(s, lanes);
    const T inv = T(1) / s;
    if (valid)
      for (size_type j = g.sub; j < cols; j += lanes) out(r, j) *= inv;
  }
}

template <class In, class T>
__global__ void __launch_bounds__(block_threads)
    row_logsumexp_kernel(matrix_view<In, device_space> in, vector_view<T, device_space> out, int lanes) {
  const row_group g = make_row_group(lanes);
  const size_type cols = in.cols();
  const T ninf = negative_infinity<T>();
  for (size_type base = g.first; base < in.rows(); base += g.step) {
    const size_type r = base + g.group;
    const bool valid = r < in.rows();
    const T m = row_group_max(in, r, valid, g, lanes);
    T s = T(0);
    if (valid)
      for (size_type j = g.sub; j < cols; j += lanes) {
        const T v = in(r, j);
        s += v > ninf ? device_exp(v - m) : T(0);
      }
    s = group_sum(s, lanes);
    if (valid && g.sub == 0) out[r] = m + log(s);
  }
}

/// Top-k (Softmax = false) or softmax top-k (Softmax = true) with the row in registers: lane `sub`
/// of a group holds columns sub, sub + lanes, ..., sub + (VPT-1) * lanes (coalesced loads).
template <int VPT, bool Softmax, class In, class T>
__global__ void __launch_bounds__(block_threads)
    top_k_registers_kernel(matrix_view<In, device_space> in, size_type k, bool renormalize, int lanes,
                           matrix_view<T, device_space> values, matrix_view<index_type, device_space> ids) {
  static_assert(VPT >= 1 && VPT <= 32, "the taken-mask is one 32-bit word");
  using V = std::remove_const_t<In>;
  const row_group g = make_row_group(lanes);
  const size_type cols = in.cols();
  const V ninf = negative_infinity<V>();
  for (size_type base = g.first; base < in.rows(); base += g.step) {
    const size_type r = base + g.group;
    const bool valid = r < in.rows();
    V x[VPT];
#pragma unroll
    for (int t = 0; t < VPT; ++t) {
      const size_type j = g.sub + static_cast<size_type>(t) * lanes;
      x[t] = valid && j < cols ? static_cast<V>(in(r, j)) : ninf;
    }
    [[maybe_unused]] V m = ninf;
    [[maybe_unused]] V denom = V(0);
    if constexpr (Softmax) {
#pragma unroll
      for (int t = 0; t < VPT; ++t) m = x[t] > m ? x[t] : m;
      m = group_max(m, lanes);
#pragma unroll
      for (int t = 0; t < VPT; ++t) denom += x[t] > ninf ? device_exp(x[t] - m) : V(0);
      denom = group_sum(denom, lanes);
    }
    unsigned taken = 0;  // bit t: x[t] won an earlier pass
    [[maybe_unused]] V selected = V(0);
    for (size_type p = 0; p < k; ++p) {
      V best = ninf;
      size_type at = -1;
#pragma unroll
      for (int t = 0; t < VPT; ++t) {
        const size_type j = g.sub + static_cast<size_type>(t) * lanes;
        // Columns ascend with t, so the strict '>' keeps the lower index among equal values.
        if (j < cols && ((taken >> t) & 1u) == 0 && (at < 0 || x[t] > best)) {
          best = x[t];
          at = j;
        }
      }
      group_arg_best<true>(best, at, lanes);
      if (at >= 0 && at % lanes == g.sub) taken |= 1u << (at / lanes);
      V value = best;
      if constexpr (Softmax) {
        value = device_exp(best - m);
        selected += value;
      }
      if (valid && g.sub == 0) {
        values(r, p) = static_cast<T>(value);
        ids(r, p) = static_cast<index_type>(at);
      }
    }
    if constexpr (Softmax) {
      const V scale = V(1) / (renormalize ? selected : denom);
      if (valid && g.sub == 0)
        for (size_type p = 0; p < k; ++p) values(r, p) *= scale;
    }
  }
}

/// Top-k / softmax top-k of rows too wide for registers: one warp per row, k + 2 passes over it.
template <bool Softmax, class In, class T>
__global__ void __launch_bounds__(block_threads)
    top_k_streaming_kernel(matrix_view<In, device_space> in, size_type k, bool renormalize,
                           matrix_view<T, device_space> values, matrix_view<index_type, device_space> ids) {
  using V = std::remove_const_t<In>;
  const row_group g = make_row_group(warp_threads);
  const size_type cols = in.cols();
  const V ninf = negative_infinity<V>();
  for (size_type base = g.first; base < in.rows(); base += g.step) {
    const size_type r = base + g.group;
    const bool valid = r < in.rows();
    [[maybe_unused]] V m = ninf;
    [[maybe_unused]] V denom = V(0);
    if constexpr (Softmax) {
      if (valid)
        for (size_type j = g.sub; j < cols; j += warp_threads) {
          const V v = in(r, j);
          m = v > m ? v : m;
        }
      m = group_max(m, warp_threads);
      if (valid)
        for (size_type j = g.sub; j < cols; j += warp_threads) {
          const V v = in(r, j);
          denom += v > ninf ? device_exp(v - m) : V(0);
        }
      denom = group_sum(denom, warp_threads);
    }
    V prev = ninf;  // the previous pass's winner
    size_type prev_at = -1;
    [[maybe_unused]] V selected = V(0);
    for (size_type p = 0; p < k; ++p) {
      V best = ninf;
      size_type at = -1;
      if (valid)
        for (size_type j = g.sub; j < cols; j += warp_threads) {
          const V v = in(r, j);
          const bool open = prev_at < 0 || v < prev || (v == prev && j > prev_at);
          if (open && (at < 0 || v > best)) {
            best = v;
            at = j;
          }
        }
      group_arg_best<true>(best, at, warp_threads);
      prev = best;
      prev_at = at;
      V value = best;
      if constexpr (Softmax) {
        value = device_exp(best - m);
        selected += value;
      }
      if (valid && g.sub == 0) {
        values(r, p) = static_cast<T>(value);
        ids(r, p) = static_cast<index_type>(at);
      }
    }
    if constexpr (Softmax) {
      const V scale = V(1) / (renormalize ? selected : denom);
      if (valid && g.sub == 0)
        for (size_type p = 0; p < k; ++p) values(r, p) *= scale;
    }
  }
}

template <bool Softmax, class In, class T>
void launch_top_k(const cuda& be, const char* fn, matrix_view<In, device_space> in, size_type k, bool renormalize,
                  matrix_view<T, device_space> values, matrix_view<index_type, device_space> ids) {
  if (in.rows() == 0 || k == 0) return;
  const size_type cols = in.cols();
  const int lanes = lanes_per_row(cols);
  const unsigned grid = row_group_grid(be, in.rows(), lanes);
  const cudaStream_t s = be.stream();
  if (cols <= 32) top_k_registers_kernel<1, Softmax><<<grid, block_threads, 0, s>>>(in, k, renormalize, lanes, values, ids);
  else if (cols <= 64) top_k_registers_kernel<2, Softmax><<<grid, block_threads, 0, s>>>(in, k, renormalize, lanes, values, ids);
  else if (cols <= 128) top_k_registers_kernel<4, Softmax><<<grid, block_threads, 0, s>>>(in, k, renormalize, lanes, values, ids);
  else if (cols <= 256) top_k_registers_kernel<8, Softmax><<<grid, block_threads, 0, s>>>(in, k, renormalize, lanes, values, ids);
  else if (cols <= 512) top_k_registers_kernel<16, Softmax><<<grid, block_threads, 0, s>>>(in, k, renormalize, lanes, values, ids);
  else top_k_streaming_kernel<Softmax><<<grid, block_threads, 0, s>>>(in, k, renormalize, values, ids);
  check_launch(fn);
}

template <bool Max, class In>
__global__ void __launch_bounds__(block_threads)
    row_arg_best_kernel(matrix_view<In, device_space> in, vector_view<index_type, device_space> out, int lanes) {
  using V = std::remove_const_t<In>;
  const row_group g = make_row_group(lanes);
  for (size_type base = g.first; base < in.rows(); base += g.step) {
    const size_type r = base + g.group;
    const bool valid = r < in.rows();
    V best = V(0);
    size_type at = -1;
    if (valid)
      for (size_type j = g.sub; j < in.cols(); j += lanes) {
        const V v = in(r, j);
        if (at < 0 || (Max ? v > best : v < best)) {
          best = v;
          at = j;
        }
      }
    group_arg_best<Max>(best, at, lanes);
    if (valid && g.sub == 0) out[r] = static_cast<index_type>(at);
  }
}

template <bool Max, class In>
void row_arg_best(const cuda& be, const char* fn, matrix_view<In, device_space> in, vector_view<index_type, device_space> out) {
  check_row_index(fn, in, out);
  if (in.rows() == 0) return;
  const int lanes = lanes_per_row(in.cols());
  row_arg_best_kernel<Max><<<row_group_grid(be, in.rows(), lanes), block_threads, 0, be.stream()>>>(in, out, lanes);
  check_launch(fn);
}

}  // namespace detail

/// out(i, :) = softmax(in(i, :)), max-subtracted; -inf entries give exactly 0. `out` may alias `in`.
/// Inputs the CPU rejects (NaN, +inf, rows of only -inf) are not checked (see the file comment).
template <class In, class T>
  requires same_element<In, T>
void row_softmax(const cuda& be, matrix_view<In, device_space> in, matrix_view<T, device_space> out) {
  detail::require_same_shape("row_softmax", "out", in, out);
  if (in.empty()) return;
  const int lanes = detail::lanes_per_row(in.cols());
  detail::row_softmax_kernel<<<detail::row_group_grid(be, in.rows(), lanes), detail::block_threads, 0, be.stream()>>>(in, out, lanes);
  detail::check_launch("row_softmax");
}

/// out[i] = log sum_j exp(in(i, j)), max-subtracted. Inputs the CPU rejects are not checked.
template <class In, class T>
  requires same_element<In, T>
void row_logsumexp(const cuda& be, matrix_view<In, device_space> in, vector_view<T, device_space> out) {
  detail::require_extent("row_logsumexp", "out", "size (in.rows)", out.size(), in.rows());
  if (in.rows() == 0) return;
  if (in.cols() == 0) detail::fail<shape_error>("row_logsumexp", "in", "at least one column", "0 columns");
  const int lanes = detail::lanes_per_row(in.cols());
  detail::row_logsumexp_kernel<<<detail::row_group_grid(be, in.rows(), lanes), detail::block_threads, 0, be.stream()>>>(in, out, lanes);
  detail::check_launch("row_logsumexp");
}

/// The k largest entries of every row, descending, ties to the lower column index (the CPU's
/// values and indices exactly). k = 0 writes nothing; k > cols is a value_error.
template <class In, class T>
  requires same_element<In, T>
void row_top_k(const cuda& be, matrix_view<In, device_space> in, size_type k, matrix_view<T, device_space> values,
               matrix_view<index_type, device_space> indices) {
  detail::check_top_k("row_top_k", in, k, values, indices);
  detail::launch_top_k<false>(be, "row_top_k", in, k, false, values, indices);
}

/// Router primitive, fused in one warp-level kernel: top-k experts of softmax(logits) per row.
/// weights(i, p) = softmax(logits(i, :))[ids(i, p)], or, with `renormalize`, those k probabilities
/// divided by their sum. ids equal the CPU's exactly; weights agree to rounding.
template <class In, class T>
  requires same_element<In, T>
void softmax_top_k(const cuda& be, matrix_view<In, device_space> logits, size_type k, bool renormalize,
                   matrix_view<T, device_space> weights, matrix_view<index_type, device_space> ids) {
  detail::check_top_k("softmax_top_k", logits, k, weights, ids);
  detail::launch_top_k<true>(be, "softmax_top_k", logits, k, renormalize, weights, ids);
}

/// out[i] = index of the largest entry of row i (ties to the lower index).
template <class In>
void row_argmax(const cuda& be, matrix_view<In, device_space> in, vector_view<index_type, device_space> out) {
  detail::row_arg_best<true>(be, "row_argmax", in, out);
}

/// out[i] = index of the smallest entry of row i (ties to the lower index).
template <class In>
void row_argmin(const cuda& be, matrix_view<In, device_space> in, vector_view<index_type, device_space> out) {
  detail::row_arg_best<false>(be, "row_argmin", in, out);
}

}  // namespace beacon
