// SPDX-License-Identifier: Apache-2.0
#pragma once
// GEMM on the CUDA backend through cuBLAS (float: Sgemm, double: Dgemm; 64-bit-index API).
//
// cuBLAS is column-major. A row-major m x n matrix with leading dimension ld is, byte for byte, the
// column-major n x m matrix (its transpose) with the same ld. So the row-major C = op(A) op(B)
// is computed as the column-major C^T = op(B)^T op(A)^T: call cuBLAS with B first, A second,
// dimensions (n, m, k), and each operand's transpose flag as given (a row-major A seen column-major
// is A^T, so "no transpose" of the row-major operand is CUBLAS_OP_N of what cuBLAS sees).
// cuBLAS results are bit-reproducible for a fixed toolkit, GPU model and SM count.

#include <type_traits>

#include "../../core/gemm_shape.hpp"
#include "launch.cuh"

namespace beacon {

namespace detail {

/// C = beta * C (beta == 0 writes zeros without reading C): the k == 0 case.
template <class T>
__global__ void __launch_bounds__(block_threads) scale_kernel(T beta, matrix_view<T, device_space> c) {
  for (size_type r = first_row(); r < c.rows(); r += row_step())
    for (size_type j = first_col(); j < c.cols(); j += col_step()) c(r, j) = beta == T(0) ? T(0) : beta * c(r, j);
}

inline cublasOperation_t cublas_op(transpose t) { return t == transpose::yes ? CUBLAS_OP_T : CUBLAS_OP_N; }

}  // namespace detail

/// C = alpha * op(A) * op(B) + beta * C (row-major device views; beta == 0 ignores C's old
/// contents, so NaNs there do not leak). T is float or double.
template <class TA, class TB, class T>
  requires same_element<TA, T> && same_element<TB, T>
void gemm(const cuda& be, transpose ta, transpose tb, std::type_identity_t<T> alpha, matrix_view<TA, device_space> a,
          matrix_view<TB, device_space> b, std::type_identity_t<T> beta, matrix_view<T, device_space> c) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "beacon::gemm (cuda): T must be float or double");
  detail::check_gemm("gemm", ta, tb, a, b, c);
  if (c.empty()) return;
  const size_type m = c.rows(), n = c.cols();
  const size_type k = ta == transpose::no ? a.cols() : a.rows();
  if (k == 0) {
    const auto g = detail::matrix_grid(be, m, n);
    detail::scale_kernel<<<g.grid, g.block, 0, be.stream()>>>(static_cast<T>(beta), c);
    detail::check_launch("gemm");
    return;
  }
  const T alpha_v = alpha, beta_v = beta;
  if constexpr (std::is_same_v<T, float>)
    BEACON_CUBLAS_CHECK(cublasSgemm_64(be.cublas(), detail::cublas_op(tb), detail::cublas_op(ta), n, m, k, &alpha_v, b.data(),
                                       b.ld(), a.data(), a.ld(), &beta_v, c.data(), c.ld()));
  else
    BEACON_CUBLAS_CHECK(cublasDgemm_64(be.cublas(), detail::cublas_op(tb), detail::cublas_op(ta), n, m, k, &alpha_v, b.data(),
                                       b.ld(), a.data(), a.ld(), &beta_v, c.data(), c.ld()));
}

}  // namespace beacon
