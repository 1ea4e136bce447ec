// SPDX-License-Identifier: Apache-2.0
#pragma once
// Zero-copy interop between beacon views and Eigen (host memory only).
//
//   Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> x(4, 8);
//   beacon::matrix_view<float> v = beacon::as_view(x);          // no copy
//   auto m = beacon::as_eigen(v);                                // Eigen::Map over the same memory
//
// Views are row-major; a column-major Eigen object is rejected at compile time (view its transpose
// or use a RowMajor type) rather than silently reinterpreted.

#include <type_traits>

#include <Eigen/Core>

#include "view.hpp"

namespace beacon {

template <class T>
using row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using column_vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

namespace detail {
template <class Derived>
inline constexpr bool is_vector_expr_v = Derived::IsVectorAtCompileTime == 1;
template <class Derived>
inline constexpr bool has_direct_access_v = (Derived::Flags & Eigen::DirectAccessBit) != 0;
template <class Derived>
inline constexpr bool is_row_major_v = (Derived::Flags & Eigen::RowMajorBit) != 0;
}  // namespace detail

/// matrix_view over an Eigen matrix, Map, Ref or Block with direct access and row-major storage
/// (constness follows the argument). A compile-time vector becomes a one-column view if it is a
/// column vector, a one-row view if it is a row vector. The strides and checks are the view's
/// converting constructor's (view.hpp); this names the conversion and says why an expression fails.
template <class Derived>
auto as_view(Eigen::DenseBase<Derived>& m) {
  static_assert(detail::has_direct_access_v<Derived>, "beacon::as_view: the Eigen expression has no direct memory access; evaluate it first");
  static_assert(detail::is_row_major_v<Derived> || detail::is_vector_expr_v<Derived>,
                "beacon::as_view: beacon views are row-major; use Eigen::RowMajor storage or view the transpose");
  return matrix_view<std::remove_pointer_t<decltype(m.derived().data())>, host_space>(m.derived());
}
template <class Derived>
auto as_view(const Eigen::DenseBase<Derived>& m) {
  static_assert(detail::has_direct_access_v<Derived>, "beacon::as_view: the Eigen expression has no direct memory access; evaluate it first");
  static_assert(detail::is_row_major_v<Derived> || detail::is_vector_expr_v<Derived>,
                "beacon::as_view: beacon views are row-major; use Eigen::RowMajor storage or view the transpose");
  return matrix_view<const typename Derived::Scalar, host_space>(m.derived());
}

/// vector_view over a contiguous Eigen vector (unit inner stride, else a shape_error).
template <class Derived>
auto as_vector_view(Eigen::DenseBase<Derived>& v) {
  static_assert(detail::is_vector_expr_v<Derived> && detail::has_direct_access_v<Derived>,
                "beacon::as_vector_view: expects an Eigen vector with direct access");
  return vector_view<std::remove_pointer_t<decltype(v.derived().data())>, host_space>(v.derived());
}
template <class Derived>
auto as_vector_view(const Eigen::DenseBase<Derived>& v) {
  static_assert(detail::is_vector_expr_v<Derived> && detail::has_direct_access_v<Derived>,
                "beacon::as_vector_view: expects an Eigen vector with direct access");
  return vector_view<const typename Derived::Scalar, host_space>(v.derived());
}

/// Eigen::Map over a host matrix_view (row-major, outer stride = ld); constness follows T.
template <class T>
auto as_eigen(const matrix_view<T, host_space>& v) {
  using plain = row_matrix<std::remove_const_t<T>>;
  using mapped = std::conditional_t<std::is_const_v<T>, const plain, plain>;
  return Eigen::Map<mapped, Eigen::Unaligned, Eigen::OuterStride<>>(v.data(), v.rows(), v.cols(),
                                                                    Eigen::OuterStride<>(v.ld()));
}

/// Eigen::Map over a host vector_view as a column vector.
template <class T>
auto as_eigen(const vector_view<T, host_space>& v) {
  using plain = column_vector<std::remove_const_t<T>>;
  using mapped = std::conditional_t<std::is_const_v<T>, const plain, plain>;
  return Eigen::Map<mapped>(v.data(), v.size());
}

}  // namespace beacon
