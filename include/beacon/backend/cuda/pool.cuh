// SPDX-License-Identifier: Apache-2.0
#pragma once
// Masked mean-pool of token rows into instance rows on the CUDA backend (the KV-anchor router's
// instance embedding). One thread per output element sums its column over the counted tokens in
// token order, then scales by 1 / count: the CPU backend's operations in the CPU's order.

#include "../checks.hpp"
#include "launch.cuh"

namespace beacon {

namespace detail {

template <class Tok, class M, class T>
__global__ void __launch_bounds__(block_threads)
    masked_mean_pool_kernel(matrix_view<Tok, device_space> tokens, matrix_view<M, device_space> mask, matrix_view<T, device_space> out) {
  const size_type length = mask.cols();
  for (size_type b = first_row(); b < out.rows(); b += row_step())
    for (size_type j = first_col(); j < out.cols(); j += col_step()) {
      T acc = T(0);
      size_type count = 0;
      for (size_type l = 0; l < length; ++l) {
        if (mask(b, l) == M(0)) continue;
        ++count;
        acc += tokens(b * length + l, j);
      }
      out(b, j) = count == 0 ? T(0) : acc * (T(1) / static_cast<T>(count));
    }
}

}  // namespace detail

/// tokens: (B*L) x D, the L token rows of instance b at rows b*L .. b*L+L-1; mask: B x L, nonzero
/// = the token counts. out(b, :) = mean of the counted token rows of instance b.
/// The CPU backend rejects an instance with no counted token (value_error); finding one here would
/// need a device-to-host copy and a synchronisation, so such an instance gets a zero row instead.
/// Check masks on the host when an all-zero row must be an error.
template <class Tok, class M, class T>
  requires same_element<Tok, T>
void masked_mean_pool(const cuda& be, matrix_view<Tok, device_space> tokens, matrix_view<M, device_space> mask,
                      matrix_view<T, device_space> out) {
  detail::check_masked_mean_pool("masked_mean_pool", tokens, mask, out);
  if (out.empty()) return;
  const auto g = detail::matrix_grid(be, out.rows(), out.cols());
  detail::masked_mean_pool_kernel<<<g.grid, g.block, 0, be.stream()>>>(tokens, mask, out);
  detail::check_launch("masked_mean_pool");
}

}  // namespace beacon
