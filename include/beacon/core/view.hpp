// SPDX-License-Identifier: Apache-2.0
#pragma once
// Non-owning views over caller memory: matrix_view (row-major with a leading dimension) and
// vector_view (contiguous). The memory space is part of the type, so handing a host view to a
// device operation fails to compile instead of faulting at run time (mdspan's accessor idea).

#include <ranges>
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

namespace detail {
/// An Eigen dense object with storage (Matrix, Map, Block, Ref), recognised by its members so this
/// header needs no Eigen include.
template <class X>
concept eigen_like_matrix = requires(X& x) {
  x.data();
  x.rows();
  x.cols();
  x.outerStride();
  x.innerStride();
  X::IsRowMajor;
  X::RowsAtCompileTime;
  X::ColsAtCompileTime;
};
/// Views of other memory (std::span, Eigen Map / Block / Ref): a view of such a temporary does not
/// dangle; a view of a temporary std::vector or Eigen::Matrix would.
template <class X>
concept borrows_storage = std::ranges::borrowed_range<X> ||
                          (requires(X& x) { x.innerStride(); } && !requires(X& x) { x.conservativeResize(1, 1); });
/// An object with contiguous data() and size() (std::vector, std::array, std::span, Eigen vectors).
template <class X>
concept has_contiguous_data = requires(X& x) {
  x.data();
  x.size();
} && std::is_pointer_v<decltype(std::declval<X&>().data())>;
}  // namespace detail

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

  /// A host view of an Eigen matrix, Map, Block or Ref of element T, without a copy, so entry
  /// points taking matrix_view<const T> accept what the caller holds (a temporary Matrix is
  /// refused: its view would dangle). Column-major storage is refused (beacon views are row-major).
  template <class M>
    requires(std::is_same_v<Space, host_space> && detail::eigen_like_matrix<std::remove_reference_t<M>> &&
             std::is_convertible_v<decltype(std::declval<M&>().data()), T*> &&
             (std::is_lvalue_reference_v<M> || detail::borrows_storage<std::remove_reference_t<M>>))
  matrix_view(M&& m)  // NOLINT(google-explicit-constructor, bugprone-forwarding-reference-overload)
      : matrix_view(m.data(), static_cast<size_type>(m.rows()), static_cast<size_type>(m.cols()), leading_dimension(m)) {
    using plain = std::remove_cvref_t<M>;
    static_assert(plain::IsRowMajor || plain::RowsAtCompileTime == 1 || plain::ColsAtCompileTime == 1,
                  "beacon::matrix_view: beacon views are row-major; got a column-major Eigen matrix: use Eigen::RowMajor storage or view its transpose");
  }

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
  /// The row stride of an Eigen object as a view (a vector-shaped one must be contiguous).
  template <class M>
  static size_type leading_dimension(const M& m) {
    const auto rows = static_cast<size_type>(m.rows()), cols = static_cast<size_type>(m.cols());
    if constexpr (M::RowsAtCompileTime == 1 || M::ColsAtCompileTime == 1)
      if (m.innerStride() != 1 && m.size() > 1) detail::fail<shape_error>("matrix_view", "m.innerStride()", "1", m.innerStride());
    return (rows <= 1 || cols == 1) ? cols : static_cast<size_type>(m.outerStride());
  }

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

  /// A host view of a contiguous container of element T (std::vector, std::array, std::span, an
  /// Eigen vector), without a copy, as std::span converts (a temporary container is refused: its
  /// view would dangle). An Eigen vector with a stride is a shape_error.
  template <class R>
    requires(std::is_same_v<Space, host_space> && detail::has_contiguous_data<std::remove_reference_t<R>> &&
             std::is_convertible_v<decltype(std::declval<R&>().data()), T*> && !requires { typename std::remove_cvref_t<R>::memory_space; } &&
             (std::is_lvalue_reference_v<R> || detail::borrows_storage<std::remove_reference_t<R>>))
  vector_view(R&& r)  // NOLINT(google-explicit-constructor, bugprone-forwarding-reference-overload)
      : vector_view(r.data(), static_cast<size_type>(r.size())) {
    if constexpr (requires { r.innerStride(); })
      if (r.innerStride() != 1 && r.size() > 1) detail::fail<shape_error>("vector_view", "r.innerStride()", "1", r.innerStride());
  }

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
