// SPDX-License-Identifier: Apache-2.0
#pragma once
// GEMM on the CPU backend through Eigen (its blocked, vectorised kernel).

#include <Eigen/Core>

#include <algorithm>

#include "../../core/eigen.hpp"
#include "../../core/gemm_shape.hpp"
#include "cpu.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace beacon {
namespace detail {

/// Sets the calling thread's OpenMP thread count (an ICV of this thread only) for a scope.
class calling_thread_threads {
 public:
  explicit calling_thread_threads([[maybe_unused]] int n) {
#if defined(_OPENMP)
    omp_set_num_threads(n);
#endif
  }
  ~calling_thread_threads() {
#if defined(_OPENMP)
    omp_set_num_threads(previous_);
#endif
  }
  calling_thread_threads(const calling_thread_threads&) = delete;
  calling_thread_threads& operator=(const calling_thread_threads&) = delete;

 private:
#if defined(_OPENMP)
  int previous_ = omp_get_max_threads();
#endif
};

/// C with at most this many rows is computed in column panels of this width (gemm below).
inline constexpr size_type skinny_gemm_rows = 64, skinny_gemm_panel = 64;

}  // namespace detail

/// C = alpha * op(A) * op(B) + beta * C (row-major views; beta == 0 ignores C's old contents).
/// Eigen picks its blocking from the thread count, so results are reproducible for a fixed
/// `be.threads()`. The thread count reaches Eigen through the calling thread's own OpenMP
/// thread-count setting (omp_set_num_threads, restored afterwards), never Eigen::setNbThreads,
/// which is one process-wide variable: so GEMMs may run from several threads at once (a program
/// that calls Eigen::setNbThreads itself overrides be.threads() here).
template <class TA, class TB, class T>
  requires same_element<TA, T> && same_element<TB, T>
void gemm(const cpu& be, transpose ta, transpose tb, std::type_identity_t<T> alpha, matrix_view<TA, host_space> a,
          matrix_view<TB, host_space> b, std::type_identity_t<T> beta, matrix_view<T, host_space> c) {
  detail::check_gemm("gemm", ta, tb, a, b, c);
  if (c.empty()) return;
  auto cm = as_eigen(c);
  const size_type k = ta == transpose::no ? a.cols() : a.rows();
  if (k == 0) {
    if (beta == T(0)) cm.setZero();
    else cm *= beta;
    return;
  }
  const int threads = be.threads_for(c.size() * k);
  const auto am = as_eigen(a);
  const auto bm = as_eigen(b);
  auto product = [&](auto&& dst, const auto& lhs, const auto& rhs) {
    if (beta == T(0)) dst.noalias() = alpha * (lhs * rhs);
    else {
      if (beta != T(1)) dst *= beta;
      dst.noalias() += alpha * (lhs * rhs);
    }
  };
  auto run = [&](const auto& lhs, const auto& rhs) {
    if (c.rows() > detail::skinny_gemm_rows || c.cols() < 2 * detail::skinny_gemm_panel) {
      const detail::calling_thread_threads scope(threads);
      product(cm, lhs, rhs);
      return;
    }
    // Skinny C (a decode step: one row per sequence): column panels of op(B), one single-threaded
    // Eigen product each (Eigen runs serially inside a parallel region), spread over the threads.
    // Eigen's own GEMM packs and threads poorly for a handful of rows, and its GEMV (one row) is
    // single-threaded; panels measured 1.2-3x faster at 1-64 rows (docs/benchmarks.md, "Decode
    // step"). Panel bounds do not depend on the thread count, so neither do the results.
    const size_type panels = (c.cols() + detail::skinny_gemm_panel - 1) / detail::skinny_gemm_panel;
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (size_type p = 0; p < panels; ++p) {
      const size_type j0 = p * detail::skinny_gemm_panel, n = std::min(detail::skinny_gemm_panel, c.cols() - j0);
      product(cm.middleCols(j0, n), lhs, rhs.middleCols(j0, n));
    }
  };
  if (ta == transpose::no && tb == transpose::no) run(am, bm);
  else if (ta == transpose::no) run(am, bm.transpose());
  else if (tb == transpose::no) run(am.transpose(), bm);
  else run(am.transpose(), bm.transpose());
}

}  // namespace beacon
