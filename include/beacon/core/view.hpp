// SPDX-License-Identifier: Apache-2.0
#pragma once
// Non-owning views over caller memory: matrix_view (row-major with a leading dimension) and
// vector_view (contiguous). The memory space is part of the type, so handing a host view to a
// device operation fails to compile instead of faulting at run time (mdspan's accessor idea).

#include <type_traits>

#include "config.hpp"
#include "error.hpp"

namespace beacon {

/// Memory reachable by the host CPU (ordinary or pinned allocations).
struct host_space {
  static constexpr const char* name = "host";
};
/// Memory reachable by CUDA kernels (cudaMalloc / cudaMallocAsync allocations).
struct device_space {
  static constexpr const char* name = "device";
};

template <class S>
inline constexpr bool is_memory_space_v =
    std::is_same_v<S, host_space> || std::is_same_v<S, device_space>;

/// Row-major matrix view: element (i, j) lives at data[i * ld + j], with ld >= cols.
/// `T` may be const-qualified for read-only views; a view of T converts to a view of const T.
template <class T, class Space = host_space>
class matrix_view {
  static_assert(is_memory_space_v<Space>, "beacon::matrix_view: Space must be host_space or device_space");

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using memory_space = Space;

  matrix_view() = default;

  /// Contiguous rows: ld = cols.
  matrix_view(T* data, size_type rows, size_type cols) : matrix_view(data, rows, cols, cols) {}

  matrix_view(T* data, size_type rows, size_type cols, size_type ld)
      : data_(data), rows_(rows), cols_(cols), ld_(ld) {
    if (rows < 0) detail::fail<shape_error>("matrix_view", "rows", ">= 0", rows);
    if (cols < 0) detail::fail<shape_error>("matrix_view", "cols", ">= 0", cols);
    if (ld < cols) detail::fail<shape_error>("matrix_view", "ld", detail::concat(">= cols (", cols, ")"), ld);
    if (data == nullptr && rows > 0 && cols > 0)
      detail::fail<value_error>("matrix_view", "data", "non-null for a non-empty view", "nullptr");
  }

  /// Read-only view of a mutable one.
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  matrix_view(const matrix_view<U, Space>& other)  // NOLINT(google-explicit-constructor)
      : data_(other.data()), rows_(other.rows()), cols_(other.cols()), ld_(other.ld()) {}

  BEACON_HD T* data() const noexcept { return data_; }
  BEACON_HD size_type rows() const noexcept { return rows_; }
  BEACON_HD size_type cols() const noexcept { return cols_; }
  BEACON_HD size_type ld() const noexcept { return ld_; }
  BEACON_HD size_type size() const noexcept { return rows_ * cols_; }
  BEACON_HD bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }
  BEACON_HD bool contiguous() const noexcept { return ld_ == cols_ || rows_ <= 1; }

  /// Pointer to the first element of row i. Dereference only where Space is reachable.
  BEACON_HD T* row(size_type i) const noexcept { return data_ + i * ld_; }
  BEACON_HD T& operator()(size_type i, size_type j) const noexcept { return data_[i * ld_ + j]; }

  /// Rows [first, first + count) as a view of the same memory.
  matrix_view row_block(size_type first, size_type count) const {
    if (first < 0 || count < 0 || first + count > rows_)
      detail::fail<shape_error>("matrix_view::row_block", "first+count",
                                detail::concat("<= rows (", rows_, ")"), first + count);
    return matrix_view(data_ + first * ld_, count, cols_, ld_);
  }

 private:
  T* data_ = nullptr;
  size_type rows_ = 0;
  size_type cols_ = 0;
  size_type ld_ = 0;
};

/// Contiguous vector view.
template <class T, class Space = host_space>
class vector_view {
  static_assert(is_memory_space_v<Space>, "beacon::vector_view: Space must be host_space or device_space");

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using memory_space = Space;

  vector_view() = default;
  vector_view(T* data, size_type size) : data_(data), size_(size) {
    if (size < 0) detail::fail<shape_error>("vector_view", "size", ">= 0", size);
    if (data == nullptr && size > 0)
      detail::fail<value_error>("vector_view", "data", "non-null for a non-empty view", "nullptr");
  }
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  vector_view(const vector_view<U, Space>& other)  // NOLINT(google-explicit-constructor)
      : data_(other.data()), size_(other.size()) {}

  BEACON_HD T* data() const noexcept { return data_; }
  BEACON_HD size_type size() const noexcept { return size_; }
  BEACON_HD bool empty() const noexcept { return size_ == 0; }
  BEACON_HD T& operator[](size_type i) const noexcept { return data_[i]; }
  BEACON_HD T* begin() const noexcept { return data_; }
  BEACON_HD T* end() const noexcept { return data_ + size_; }

  /// The vector as a rows x cols matrix (row-major, contiguous); rows * cols must equal size().
  matrix_view<T, Space> as_matrix(size_type rows, size_type cols) const {
    if (rows * cols != size_)
      detail::fail<shape_error>("vector_view::as_matrix", "rows*cols", detail::concat("= size (", size_, ")"),
                                rows * cols);
    return matrix_view<T, Space>(data_, rows, cols);
  }

 private:
  T* data_ = nullptr;
  size_type size_ = 0;
};

/// Views a whole contiguous matrix as one vector of rows*cols elements.
template <class T, class Space>
vector_view<T, Space> flatten(const matrix_view<T, Space>& m) {
  if (!m.contiguous())
    detail::fail<shape_error>("flatten", "m.ld", detail::concat("= cols (", m.cols(), ")"), m.ld());
  return vector_view<T, Space>(m.data(), m.size());
}

// Raw-pointer factories: spell out the space at the call site.
template <class T>
matrix_view<T, host_space> host_matrix(T* p, size_type rows, size_type cols, size_type ld = -1) {
  return {p, rows, cols, ld < 0 ? cols : ld};
}
template <class T>
matrix_view<T, device_space> device_matrix(T* p, size_type rows, size_type cols, size_type ld = -1) {
  return {p, rows, cols, ld < 0 ? cols : ld};
}
template <class T>
vector_view<T, host_space> host_vector(T* p, size_type n) { return {p, n}; }
template <class T>
vector_view<T, device_space> device_vector(T* p, size_type n) { return {p, n}; }

namespace detail {
template <class V>
struct view_traits : std::false_type {};
template <class T, class S>
struct view_traits<matrix_view<T, S>> : std::true_type {
  using space = S;
};
template <class T, class S>
struct view_traits<vector_view<T, S>> : std::true_type {
  using space = S;
};
}  // namespace detail

/// A and B are the same element type up to const (an input view of A may feed an output of B).
template <class A, class B>
concept same_element = std::is_same_v<std::remove_const_t<A>, std::remove_const_t<B>>;

/// True when every view type lives in memory space S (used to constrain backend operations).
template <class S, class... Views>
concept views_in = (detail::view_traits<std::remove_cvref_t<Views>>::value && ...) &&
                   (std::is_same_v<typename detail::view_traits<std::remove_cvref_t<Views>>::space, S> && ...);

}  // namespace beacon
