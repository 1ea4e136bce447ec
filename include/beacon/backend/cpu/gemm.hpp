// SPDX-License-Identifier: Apache-2.0
#pragma once
// GEMM on the CPU backend through Eigen (its blocked, vectorised kernel).

#include <Eigen/Core>

#include "../../core/eigen.hpp"
#include "../../core/gemm_shape.hpp"
#include "cpu.hpp"

namespace beacon {

/// C = alpha * op(A) * op(B) + beta * C (row-major views; beta == 0 ignores C's old contents).
/// Eigen picks its blocking from the thread count, so results are reproducible for a fixed
/// `be.threads()`; the thread count is applied through Eigen::setNbThreads for the call and the
/// caller's setting is restored afterwards.
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
  struct restore_threads {
    int previous = Eigen::nbThreads();
    ~restore_threads() { Eigen::setNbThreads(previous); }
  } restore;
  Eigen::setNbThreads(be.threads_for(c.size() * k));
  const auto am = as_eigen(a);
  const auto bm = as_eigen(b);
  auto run = [&](const auto& lhs, const auto& rhs) {
    if (beta == T(0)) cm.noalias() = alpha * (lhs * rhs);
    else {
      if (beta != T(1)) cm *= beta;
      cm.noalias() += alpha * (lhs * rhs);
    }
  };
  if (ta == transpose::no && tb == transpose::no) run(am, bm);
  else if (ta == transpose::no) run(am, bm.transpose());
  else if (tb == transpose::no) run(am.transpose(), bm);
  else run(am.transpose(), bm.transpose());
}

}  // namespace beacon
