// SPDX-License-Identifier: Apache-2.0
#pragma once
// The AdamW update of one tensor on the CPU backend (core/adamw.hpp's element math, in double).

#include "../../core/adamw.hpp"
#include "../checks.hpp"
#include "cpu.hpp"

namespace beacon {

/// One AdamW step over a tensor's (value, grad, m, v).
template <class G, class T>
  requires same_element<G, T>
void adamw_step(const cpu& be, const adamw_coefficients& c, vector_view<T, host_space> value, vector_view<G, host_space> grad,
                vector_view<T, host_space> m, vector_view<T, host_space> v) {
  detail::check_adamw("adamw_step", c, value, grad, m, v);
#pragma omp parallel for num_threads(be.threads_for(value.size())) schedule(static)
  for (size_type i = 0; i < value.size(); ++i) detail::adamw_element(c, value[i], static_cast<T>(grad[i]), m[i], v[i]);
}

}  // namespace beacon
