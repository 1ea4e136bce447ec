// SPDX-License-Identifier: Apache-2.0
#pragma once
// GEMM operand conventions shared by every backend: C = alpha * op(A) * op(B) + beta * C on
// row-major views; with beta == 0 the old C is never read (BLAS rule: NaNs in C do not leak).

#include "error.hpp"
#include "view.hpp"

namespace beacon {

enum class transpose : bool { no = false, yes = true };

namespace detail {
template <class TA, class TB, class TC, class S>
void check_gemm(const char* fn, transpose ta, transpose tb, const matrix_view<TA, S>& a,
                const matrix_view<TB, S>& b, const matrix_view<TC, S>& c) {
  const size_type m = ta == transpose::no ? a.rows() : a.cols();
  const size_type ka = ta == transpose::no ? a.cols() : a.rows();
  const size_type kb = tb == transpose::no ? b.rows() : b.cols();
  const size_type n = tb == transpose::no ? b.cols() : b.rows();
  if (ka != kb)
    throw shape_error(concat("beacon::", fn, ": argument 'b' expected inner dimension ", ka,
                             " (from op(a)), got ", kb));
  require_extent(fn, "c", "rows", c.rows(), m);
  require_extent(fn, "c", "cols", c.cols(), n);
}
}  // namespace detail
}  // namespace beacon
