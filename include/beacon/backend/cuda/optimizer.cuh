// SPDX-License-Identifier: Apache-2.0
#pragma once
// The AdamW update of one tensor on the CUDA backend (core/adamw.hpp's element math, in double;
// nvcc may fuse multiply-adds, so results agree with the CPU to double rounding before the cast).

#include "../../core/adamw.hpp"
#include "../checks.hpp"
#include "launch.cuh"

namespace beacon {

namespace detail {
template <class G, class T>
__global__ void __launch_bounds__(block_threads)
    adamw_step_kernel(adamw_coefficients c, vector_view<T, device_space> value, vector_view<G, device_space> grad,
                      vector_view<T, device_space> m, vector_view<T, device_space> v) {
  for (size_type i = first_item(); i < value.size(); i += item_step()) adamw_element(c, value[i], static_cast<T>(grad[i]), m[i], v[i]);
}
}  // namespace detail

/// One AdamW step over (value, grad, m, v): core/adamw.hpp's formula.
template <class G, class T>
  requires same_element<G, T>
void adamw_step(const cuda& be, const adamw_coefficients& c, vector_view<T, device_space> value, vector_view<G, device_space> grad,
                vector_view<T, device_space> m, vector_view<T, device_space> v) {
  detail::check_adamw("adamw_step", c, value, grad, m, v);
  if (value.empty()) return;
  detail::adamw_step_kernel<<<detail::grid_size(be, value.size(), detail::block_threads), detail::block_threads, 0, be.stream()>>>(
      c, value, grad, m, v);
  detail::check_launch("adamw_step");
}

}  // namespace beacon
