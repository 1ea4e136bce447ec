// SPDX-License-Identifier: Apache-2.0
#pragma once
// Launch geometry and warp-level building blocks shared by the CUDA kernels.
//
// Kernels use grid-stride loops with 64-bit indices, so a grid is sized to fill the GPU a few
// times over, never to the problem, and no size overflows a grid dimension. Empty problems are
// returned from on the host before any launch (a zero-size grid is a launch error).
//
// Row kernels give each row a group of `lanes` lanes of one warp (a power of two <= 32), so narrow
// rows such as router logits with E = 8 pack several rows per warp. Group reductions are xor
// butterflies over the full warp mask: every lane of a group ends with the same bits (a + b and
// b + a are the same float), and the loops around them are warp-uniform.

#include <algorithm>

#include <cuda/std/limits>

#include "cuda.cuh"

namespace beacon::detail {

inline constexpr int block_threads = 256;
inline constexpr int warp_threads = 32;
inline constexpr unsigned full_warp_mask = 0xffffffffu;

/// Upper bound on blocks of a grid-stride launch: 32 blocks of 256 threads per SM (4 waves).
inline size_type max_blocks(const cuda& be) { return std::max<size_type>(1, size_type{32} * be.multiprocessors()); }

/// Blocks for a grid-stride loop over `items` work items, `per_block` items per block and pass.
inline unsigned grid_size(const cuda& be, size_type items, size_type per_block) {
  return static_cast<unsigned>(std::clamp<size_type>((items + per_block - 1) / per_block, 1, max_blocks(be)));
}

/// 2-D launch over a rows x cols matrix: block.x threads over columns (the next power of two
/// >= cols, at most 256, so narrow rows still fill whole warps), block.y over rows.
struct grid_2d {
  dim3 grid;
  dim3 block;
};
inline grid_2d matrix_grid(const cuda& be, size_type rows, size_type cols) {
  unsigned bx = 1;
  while (bx < static_cast<unsigned>(block_threads) && static_cast<size_type>(bx) < cols) bx <<= 1;
  const unsigned by = static_cast<unsigned>(block_threads) / bx;
  const size_type gx = std::clamp<size_type>((cols + bx - 1) / bx, 1, max_blocks(be));
  const size_type gy_cap = std::clamp<size_type>(max_blocks(be) / gx, 1, 65535);
  const size_type gy = std::clamp<size_type>((rows + by - 1) / by, 1, gy_cap);
  return {dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy)), dim3(bx, by)};
}

// Grid-stride loops of a matrix_grid kernel:
//   for (size_type r = first_row(); r < rows; r += row_step())
//     for (size_type c = first_col(); c < cols; c += col_step()) ...
__device__ inline size_type first_row() { return static_cast<size_type>(blockIdx.y) * blockDim.y + threadIdx.y; }
__device__ inline size_type row_step() { return static_cast<size_type>(gridDim.y) * blockDim.y; }
__device__ inline size_type first_col() { return static_cast<size_type>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline size_type col_step() { return static_cast<size_type>(gridDim.x) * blockDim.x; }

/// Grid-stride loop over a 1-D range of work items.
__device__ inline size_type first_item() { return static_cast<size_type>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline size_type item_step() { return static_cast<size_type>(gridDim.x) * blockDim.x; }

/// Lanes per row for a row-group kernel: the next power of two >= cols, at most a warp.
inline int lanes_per_row(size_type cols) {
  int lanes = 1;
  while (lanes < warp_threads && static_cast<size_type>(lanes) < cols) lanes <<= 1;
  return lanes;
}

/// Blocks for a row-group kernel (block_threads threads, `lanes` lanes per row).
inline unsigned row_group_grid(const cuda& be, size_type rows, int lanes) {
  return grid_size(be, rows, size_type{block_threads / warp_threads} * (warp_threads / lanes));
}

/// This thread's place in a row-group kernel. Rows are visited as
///   for (size_type base = g.first; base < rows; base += g.step) { const size_type r = base + g.group; ... }
/// `base` is warp-uniform, so shuffles inside the loop are reached by the whole warp; lanes whose
/// row is past the end (r >= rows) take part in the shuffles and write nothing.
struct row_group {
  int lanes;       ///< lanes per row
  int sub;         ///< this lane's index within its group, [0, lanes)
  int group;       ///< this group's row within the warp's rows
  size_type first; ///< first row of this warp
  size_type step;  ///< rows per grid-stride pass
};
__device__ inline row_group make_row_group(int lanes) {
  const int lane = static_cast<int>(threadIdx.x) % warp_threads;
  const size_type warp = first_item() / warp_threads;
  const size_type warps = item_step() / warp_threads;
  const int per_warp = warp_threads / lanes;
  return {lanes, lane % lanes, lane / lanes, warp * per_warp, warps * per_warp};
}

template <class T>
__device__ inline T group_sum(T v, int lanes) {
  for (int o = lanes / 2; o > 0; o >>= 1) v += __shfl_xor_sync(full_warp_mask, v, o);
  return v;
}

template <class T>
__device__ inline T group_max(T v, int lanes) {
  for (int o = lanes / 2; o > 0; o >>= 1) {
    const T other = __shfl_xor_sync(full_warp_mask, v, o);
    v = other > v ? other : v;
  }
  return v;
}

/// (v1, i1) beats (v2, i2): a larger (Max) or smaller value, ties to the lower index; index < 0
/// marks an empty candidate. A strict total order on non-NaN values, so the butterfly below leaves
/// every lane with the same winner.
template <bool Max, class T>
__device__ inline bool beats(T v1, size_type i1, T v2, size_type i2) {
  if (i1 < 0) return false;
  if (i2 < 0) return true;
  if (Max ? v1 > v2 : v1 < v2) return true;
  return v1 == v2 && i1 < i2;
}

/// Arg-best over a lane group: every lane ends with the group's winning (value, index).
template <bool Max, class T>
__device__ inline void group_arg_best(T& v, size_type& i, int lanes) {
  for (int o = lanes / 2; o > 0; o >>= 1) {
    const T ov = __shfl_xor_sync(full_warp_mask, v, o);
    const size_type oi = __shfl_xor_sync(full_warp_mask, i, o);
    if (beats<Max>(ov, oi, v, i)) {
      v = ov;
      i = oi;
    }
  }
}

template <class T>
__device__ inline T negative_infinity() {
  return -::cuda::std::numeric_limits<T>::infinity();
}

__device__ inline float device_exp(float x) { return expf(x); }
__device__ inline double device_exp(double x) { return exp(x); }
__device__ inline float device_sqrt(float x) { return sqrtf(x); }
__device__ inline double device_sqrt(double x) { return sqrt(x); }

}  // namespace beacon::detail
