// SPDX-License-Identifier: Apache-2.0
#pragma once
// Masked mean-pool of token rows into instance rows (the KV-anchor router's instance embedding).

#include <algorithm>

#include "../checks.hpp"
#include "cpu.hpp"

namespace beacon {

/// tokens: (B*L) x D, the L token rows of instance b at rows b*L .. b*L+L-1; mask: B x L, nonzero
/// = the token counts. out(b, :) = mean of the counted token rows of instance b, summed in token
/// order. An instance with no counted token is a value_error (its mean is undefined).
template <class Tok, class M, class T>
  requires same_element<Tok, T>
void masked_mean_pool(const cpu& be, matrix_view<Tok, host_space> tokens, matrix_view<M, host_space> mask,
                      matrix_view<T, host_space> out) {
  detail::check_masked_mean_pool("masked_mean_pool", tokens, mask, out);
  const size_type length = mask.cols(), dim = tokens.cols();
  size_type bad = detail::no_bad_row;
#pragma omp parallel for num_threads(be.threads_for(tokens.size())) schedule(static) reduction(min : bad)
  for (size_type b = 0; b < mask.rows(); ++b) {
    T* o = out.row(b);
    std::fill(o, o + dim, T(0));
    size_type count = 0;
    for (size_type l = 0; l < length; ++l) {
      if (mask(b, l) == M(0)) continue;
      ++count;
      const auto* x = tokens.row(b * length + l);
      for (size_type j = 0; j < dim; ++j) o[j] += x[j];
    }
    if (count == 0) {
      bad = std::min(bad, b);
      continue;
    }
    const T inv = T(1) / static_cast<T>(count);
    for (size_type j = 0; j < dim; ++j) o[j] *= inv;
  }
  if (bad != detail::no_bad_row)
    detail::fail("masked_mean_pool", "mask", "at least one nonzero entry per row", detail::concat("an all-zero row ", bad));
}

}  // namespace beacon
