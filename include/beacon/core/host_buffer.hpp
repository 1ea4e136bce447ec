// SPDX-License-Identifier: Apache-2.0
#pragma once
// An owning host array (std::vector storage) that hands out views: the buffer type of every
// host-memory backend (beacon::cpu, the tests' reference backend).

#include <vector>

#include "view.hpp"

namespace beacon {

/// Owning host array for algorithm state (the host counterpart of the CUDA backend's device buffer);
/// algorithms written over any backend get one from make_buffer<T>(be, n).
template <class T>
class host_buffer {
 public:
  host_buffer() = default;
  explicit host_buffer(size_type n) : data_(static_cast<std::size_t>(n)) {}
  [[nodiscard]] size_type size() const noexcept { return static_cast<size_type>(data_.size()); }
  [[nodiscard]] vector_view<T, host_space> view() noexcept { return {data_.data(), size()}; }
  [[nodiscard]] vector_view<const T, host_space> view() const noexcept { return {data_.data(), size()}; }
  [[nodiscard]] matrix_view<T, host_space> matrix(size_type rows, size_type cols) { return view().as_matrix(rows, cols); }
  [[nodiscard]] matrix_view<const T, host_space> matrix(size_type rows, size_type cols) const {
    return view().as_matrix(rows, cols);
  }

 private:
  std::vector<T> data_;
};

}  // namespace beacon
