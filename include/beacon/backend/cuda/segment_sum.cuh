// SPDX-License-Identifier: Apache-2.0
#pragma once
// Segmented row sums and the deterministic full sum on the CUDA backend. No float atomics: every
// addition has fixed operands in a fixed order, so results are bit-identical run to run, and both
// operations reproduce the CPU backend's bits.

#include "../../core/reduce.hpp"
#include "../checks.hpp"
#include "launch.cuh"

namespace beacon {

namespace detail {

/// One thread per (segment, column) adds the segment's rows in row order (the CPU's order). Offsets
/// are device data and are not validated (see segment_sum_rows); reads are clamped to src's rows.
template <class Src, class O, class T>
__global__ void __launch_bounds__(block_threads)
    segment_sum_rows_kernel(matrix_view<Src, device_space> src, vector_view<O, device_space> offsets, matrix_view<T, device_space> dst) {
  for (size_type s = first_row(); s < dst.rows(); s += row_step()) {
    const size_type lo = static_cast<size_type>(offsets[s]) < 0 ? 0 : static_cast<size_type>(offsets[s]);
    const size_type hi = static_cast<size_type>(offsets[s + 1]) > src.rows() ? src.rows() : static_cast<size_type>(offsets[s + 1]);
    for (size_type c = first_col(); c < dst.cols(); c += col_step()) {
      T acc = T(0);
      for (size_type r = lo; r < hi; ++r) acc += src(r, c);
      dst(s, c) = acc;
    }
  }
}

/// pairwise_sum<T>(n, value) of core/reduce.hpp, evaluated by one CUDA block with the same
/// additions in the same order, hence the same bits. Threads sum leaves of 8 in parallel; the
/// complete aligned subtrees of the pairwise tree are reduced level by level in shared memory,
/// `ChunkLeaves` leaves at a time; thread 0 merges chunk roots with the sequential code's binary
/// counter and folds the remaining partials right to left. The result is valid in thread 0.
template <class T, int ChunkLeaves, class Value>
__device__ T block_pairwise_sum(size_type n, const Value& value) {
  static_assert(ChunkLeaves > 0 && (ChunkLeaves & (ChunkLeaves - 1)) == 0, "ChunkLeaves must be a power of two");
  constexpr size_type leaf = 8;  // core/reduce.hpp's leaf size
  __shared__ T node[ChunkLeaves];
  T stack[64];  // thread 0's binary counter: complete subtrees, levels strictly decreasing
  int level[64];
  int top = 0;
  const size_type leaves = (n + leaf - 1) / leaf;
  for (size_type first = 0; first < leaves; first += ChunkLeaves) {
    const size_type count = leaves - first < ChunkLeaves ? leaves - first : ChunkLeaves;
    for (size_type t = threadIdx.x; t < count; t += blockDim.x) {
      const size_type lo = (first + t) * leaf;
      const size_type hi = n - lo < leaf ? n : lo + leaf;
      T s = T(0);
      for (size_type i = lo; i < hi; ++i) s += value(i);
      node[t] = s;
    }
    __syncthreads();
    // Node q of level d (2^d leaves) lives at node[q << d]; a node exists when both children do.
    for (int d = 0; (count >> d) > 1; ++d) {
      const size_type pairs = (count >> d) >> 1;
      for (size_type q = threadIdx.x; q < pairs; q += blockDim.x) {
        const size_type left = (2 * q) << d;
        node[left] = node[left] + node[left + (size_type{1} << d)];
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      // The chunk's roots, left to right (highest level first): the last node of each level with
      // an odd node count. A complete chunk has one root; only the final chunk can have several,
      // all below the chunk level, so they never merge with earlier chunks' roots.
      int high = 0;
      while ((count >> (high + 1)) > 0) ++high;
      for (int d = high; d >= 0; --d) {
        const size_type c = count >> d;
        if ((c & 1) == 0) continue;
        T v = node[(c - 1) << d];
        int l = d;
        while (top > 0 && level[top - 1] == l) {
          v = stack[--top] + v;
          ++l;
        }
        stack[top] = v;
        level[top] = l;
        ++top;
      }
    }
    __syncthreads();  // node[] is rewritten by the next chunk
  }
  T result = T(0);
  if (threadIdx.x == 0 && top > 0) {
    result = stack[--top];
    while (top > 0) result = stack[--top] + result;
  }
  return result;
}

/// partial[b] = pairwise sum of block b (reduce_block elements) of x.
template <class In, class T>
__global__ void __launch_bounds__(block_threads) sum_blocks_kernel(vector_view<In, device_space> x, T* partial) {
  const size_type n = x.size();
  const size_type blocks = (n + reduce_block - 1) / reduce_block;
  for (size_type b = blockIdx.x; b < blocks; b += gridDim.x) {
    const size_type lo = b * reduce_block;
    const size_type len = n - lo < reduce_block ? n - lo : reduce_block;
    const In* base = x.data() + lo;
    const T s = block_pairwise_sum<T, reduce_block / 8>(len, [base](size_type i) { return static_cast<T>(base[i]); });
    if (threadIdx.x == 0) partial[b] = s;
  }
}

/// out[0] = pairwise sum of the block partials.
template <class T>
__global__ void __launch_bounds__(block_threads) sum_partials_kernel(const T* partial, size_type blocks, T* out) {
  const T s = block_pairwise_sum<T, 2048>(blocks, [partial](size_type i) { return partial[i]; });
  if (threadIdx.x == 0) out[0] = s;
}

}  // namespace detail

/// dst(s, :) = sum of src rows offsets[s] .. offsets[s+1]-1, added in row order (the CPU's order and
/// bits); an empty segment gives a zero row. offsets must start at 0, end at src.rows() and not
/// decrease: the CPU backend checks that, but offsets are device data here and checking them would
/// need a copy and a synchronisation, so they are not checked (rows outside src are never read).
/// A segment is summed by one thread per column, so few long segments leave the GPU underused.
template <class Src, class O, class T>
  requires same_element<Src, T> && same_element<O, index_type>
void segment_sum_rows(const cuda& be, matrix_view<Src, device_space> src, vector_view<O, device_space> offsets,
                      matrix_view<T, device_space> dst) {
  detail::check_segment_sum("segment_sum_rows", src, offsets, dst);
  if (dst.empty()) return;
  const auto g = detail::matrix_grid(be, dst.rows(), dst.cols());
  detail::segment_sum_rows_kernel<<<g.grid, g.block, 0, be.stream()>>>(src, offsets, dst);
  detail::check_launch("segment_sum_rows");
}

/// out[0] = sum of x in the blocked pairwise order of core/reduce.hpp: bit-identical to the CPU
/// backend's sum. One CUDA block per reduce_block elements, then one block combines the partials
/// (kept in the backend's primitive scratch).
template <class In, class T>
  requires same_element<In, T>
void sum(const cuda& be, vector_view<In, device_space> x, vector_view<T, device_space> out) {
  detail::require_extent("sum", "out", "size", out.size(), 1);
  const size_type blocks = reduce_block_count(x.size());
  workspace_arena<device_space> arena = be.primitive_scratch(workspace_layout().add<T>(blocks).bytes());
  T* partial = arena.take<T>(blocks).data();
  if (blocks > 0) {
    detail::sum_blocks_kernel<<<detail::grid_size(be, blocks, 1), detail::block_threads, 0, be.stream()>>>(x, partial);
    detail::check_launch("sum");
  }
  detail::sum_partials_kernel<<<1, detail::block_threads, 0, be.stream()>>>(partial, blocks, out.data());
  detail::check_launch("sum");
}

}  // namespace beacon
