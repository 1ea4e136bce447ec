// SPDX-License-Identifier: Apache-2.0
#pragma once
// Views of what users hold. The library's entry points take beacon views; these functions let
// them (and users) accept, without a copy, whatever contiguous memory the caller has:
//   vector_of(x)              a vector_view of std::vector, std::array, std::span, an Eigen vector,
//                             any type with contiguous data() and size(), or a vector_view
//   matrix_of(x)              a matrix_view of a row-major Eigen matrix (or Map, Block, Ref) or a
//                             matrix_view; matrix_of(x, rows, cols): a contiguous range as rows x cols
// Where an element type must change the caller converts with a named helper (a copy they can see):
//   to_timesteps(r)           integers (int64, size_t, ...) -> std::vector<index_type>, range-checked
//   to_mask(r)                bools or integers -> std::vector<std::uint8_t> of 0/1
//   cast_elements<T>(r)       any arithmetic range -> std::vector<T>
// Eigen is not included here: Eigen types are recognised by their members (data, rows, cols,
// outerStride, IsRowMajor), so this header stays light and nvcc-safe.

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "config.hpp"
#include "error.hpp"
#include "view.hpp"

namespace beacon {

namespace detail {
template <class X>
inline constexpr bool is_vector_view_v = false;
template <class T, class S>
inline constexpr bool is_vector_view_v<vector_view<T, S>> = true;
template <class X>
inline constexpr bool is_matrix_view_v = false;
template <class T, class S>
inline constexpr bool is_matrix_view_v<matrix_view<T, S>> = true;

template <class X>
inline constexpr bool is_view_v = view_traits<std::remove_cvref_t<X>>::value;

}  // namespace detail

/// What vector_of accepts: a vector_view, or an object with contiguous data() and size() (not a
/// matrix_view, whose rows may be padded).
template <class X>
concept vector_like = detail::is_vector_view_v<std::remove_cvref_t<X>> ||
                      (detail::has_contiguous_data<std::remove_reference_t<X>> && !detail::is_matrix_view_v<std::remove_cvref_t<X>>);

/// What matrix_of accepts: a matrix_view, or a row-major Eigen matrix / Map / Block / Ref (a
/// column-major Eigen vector counts: one column).
template <class X>
concept matrix_like = detail::is_matrix_view_v<std::remove_cvref_t<X>> || detail::eigen_like_matrix<std::remove_reference_t<X>>;

/// A vector_view of x (host memory, no copy); constness follows x.
template <vector_like X>
auto vector_of(X&& x) {
  using plain = std::remove_cvref_t<X>;
  if constexpr (detail::is_vector_view_v<plain>) {
    return plain(x);
  } else {
    using T = std::remove_pointer_t<decltype(x.data())>;
    return vector_view<T, host_space>(x);
  }
}

/// A matrix_view of x (host memory, no copy); constness follows x.
template <matrix_like X>
auto matrix_of(X&& x) {
  using plain = std::remove_cvref_t<X>;
  if constexpr (detail::is_matrix_view_v<plain>) {
    return plain(x);
  } else {
    using T = std::remove_pointer_t<decltype(x.data())>;
    return matrix_view<T, host_space>(x);
  }
}

/// rows x cols (row-major, contiguous) over a vector-like x; rows * cols must equal its size.
template <vector_like X>
auto matrix_of(X&& x, size_type rows, size_type cols) {
  return vector_of(std::forward<X>(x)).as_matrix(rows, cols);
}

/// The element type (without const) of vector_of(x) / matrix_of(x).
template <class X>
using vector_element_t = typename decltype(vector_of(std::declval<X&>()))::value_type;
template <class X>
using matrix_element_t = typename decltype(matrix_of(std::declval<X&>()))::value_type;

/// True when vector_of(x) works for an X and its elements are T (up to const): entry points
/// static_assert it to say what they accept at the call, not deep inside a template.
template <class X, class T>
constexpr bool is_vector_of() {
  if constexpr (vector_like<const X&>) return std::is_same_v<vector_element_t<const X>, T>;
  else return false;
}
template <class X, class T>
constexpr bool is_matrix_of() {
  if constexpr (matrix_like<const X&>) return std::is_same_v<matrix_element_t<const X>, T>;
  else return false;
}

/// Integers of any type as the library's timesteps (index_type, int32). A value outside int32 is a
/// value_error naming its position; the schedule's own range is checked where it is used.
template <class R>
std::vector<index_type> to_timesteps(const R& r) {
  std::vector<index_type> out;
  std::size_t i = 0;
  for (const auto& v : r) {
    static_assert(std::is_integral_v<std::remove_cvref_t<decltype(v)>>, "beacon::to_timesteps: expects a range of integers");
    if (std::cmp_less(v, std::numeric_limits<index_type>::min()) || std::cmp_greater(v, std::numeric_limits<index_type>::max()))
      detail::fail("to_timesteps", "r", "integers in the int32 range", detail::concat(+v, " at position ", i));
    out.push_back(static_cast<index_type>(v));
    ++i;
  }
  return out;
}

/// Bools (std::vector<bool> included) or numbers as a 0/1 mask of std::uint8_t (nonzero -> 1).
template <class R>
std::vector<std::uint8_t> to_mask(const R& r) {
  std::vector<std::uint8_t> out;
  for (const auto& v : r) out.push_back(static_cast<bool>(v) ? 1 : 0);
  return out;
}

/// Any arithmetic range as a std::vector<T> (e.g. double coefficients for a float tensor).
template <class T, class R>
std::vector<T> cast_elements(const R& r) {
  std::vector<T> out;
  for (const auto& v : r) out.push_back(static_cast<T>(v));
  return out;
}

}  // namespace beacon
