// SPDX-License-Identifier: Apache-2.0
#pragma once
// The backend's generic map primitives: call a functor for every index of a range (or every
// element of a rows x cols grid), in parallel. Module kernels that only one paper needs (MoE
// dispatch, combine, gate gradients, ...) are written once as BEACON_HD functors over these, so
// they run on every backend that offers for_each_index / for_each_element: OpenMP here, a
// grid-stride kernel on CUDA (backend/cuda/for_each.cuh).
//
//   for_each_index(be, n, f);             // f(i), i in [0, n)
//   for_each_element(be, rows, cols, f);  // f(r, c); on the CPU each thread takes whole rows
//
// Every index is visited exactly once and the calls are independent: a functor must not write
// what another index reads. Nothing is synchronised (the CPU is synchronous anyway).

#include "cpu.hpp"

namespace beacon {

/// f(i) for i in [0, n). `cost` is the work of one call in elements (sizes the CPU's thread count).
template <class F>
void for_each_index(const cpu& be, size_type n, const F& f, size_type cost = 1) {
  if (n < 0) detail::fail("for_each_index", "n", ">= 0", n);
#pragma omp parallel for num_threads(be.threads_for(n * (cost < 1 ? 1 : cost))) schedule(static)
  for (size_type i = 0; i < n; ++i) f(i);
}

/// f(r, c) for every (r, c) of a rows x cols grid.
template <class F>
void for_each_element(const cpu& be, size_type rows, size_type cols, const F& f) {
  if (rows < 0) detail::fail("for_each_element", "rows", ">= 0", rows);
  if (cols < 0) detail::fail("for_each_element", "cols", ">= 0", cols);
#pragma omp parallel for num_threads(be.threads_for(rows * cols)) schedule(static)
  for (size_type r = 0; r < rows; ++r)
    for (size_type c = 0; c < cols; ++c) f(r, c);
}

}  // namespace beacon
