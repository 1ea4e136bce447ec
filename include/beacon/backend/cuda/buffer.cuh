// SPDX-License-Identifier: Apache-2.0
#pragma once
// Owning device arrays (device_buffer, make_buffer) and copies between host and device views.

#include <type_traits>
#include <utility>
#include <vector>

#include "../checks.hpp"
#include "cuda.cuh"

namespace beacon {

/// Owning device array (cudaMalloc / cudaFree): the CUDA counterpart of host_buffer, for algorithm
/// state and tests. Allocation and release synchronise the device (as cudaMalloc/cudaFree do), so
/// create buffers outside hot loops; use beacon::cuda::scratch for per-call temporaries.
template <class T>
class device_buffer {
  static_assert(std::is_trivially_copyable_v<T>, "beacon::device_buffer: T must be trivially copyable");

 public:
  device_buffer() = default;
  explicit device_buffer(size_type n) {
    if (n < 0) detail::fail("device_buffer", "n", ">= 0", n);
    if (n > 0) BEACON_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), sizeof(T) * static_cast<std::size_t>(n)));
    size_ = n;
  }
  /// A device copy of `host`, complete when the constructor returns (synchronous cudaMemcpy).
  explicit device_buffer(const std::vector<T>& host) : device_buffer(static_cast<size_type>(host.size())) { assign(host); }

  device_buffer(device_buffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  device_buffer& operator=(device_buffer&& other) noexcept {
    if (this != &other) {
      reset();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  ~device_buffer() { reset(); }

  [[nodiscard]] T* data() noexcept { return data_; }
  [[nodiscard]] const T* data() const noexcept { return data_; }
  [[nodiscard]] size_type size() const noexcept { return size_; }
  [[nodiscard]] vector_view<T, device_space> view() noexcept { return {data_, size_}; }
  [[nodiscard]] vector_view<const T, device_space> view() const noexcept { return {data_, size_}; }
  [[nodiscard]] matrix_view<T, device_space> matrix(size_type rows, size_type cols) { return view().as_matrix(rows, cols); }
  [[nodiscard]] matrix_view<const T, device_space> matrix(size_type rows, size_type cols) const {
    return view().as_matrix(rows, cols);
  }

  /// Overwrites the buffer with `host` (same size) by a synchronous cudaMemcpy. Like every plain
  /// cudaMemcpy it is ordered after work on blocking streams only: after queuing work that writes
  /// this buffer on a non-blocking stream, synchronize that stream first.
  void assign(const std::vector<T>& host) {
    detail::require_extent("device_buffer::assign", "host", "size", static_cast<size_type>(host.size()), size_);
    if (size_ > 0)
      BEACON_CUDA_CHECK(cudaMemcpy(data_, host.data(), sizeof(T) * static_cast<std::size_t>(size_), cudaMemcpyHostToDevice));
  }
  /// The contents as a host vector (synchronous cudaMemcpy; same ordering caveat as assign()).
  [[nodiscard]] std::vector<T> to_host() const {
    std::vector<T> host(static_cast<std::size_t>(size_));
    if (size_ > 0)
      BEACON_CUDA_CHECK(cudaMemcpy(host.data(), data_, sizeof(T) * static_cast<std::size_t>(size_), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  void reset() noexcept {
    if (data_ != nullptr) static_cast<void>(cudaFree(data_));  // a destructor cannot report failure
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  size_type size_ = 0;
};

/// Owning device array of n elements for algorithm state (make_buffer<T>(cpu, n) gives a host_buffer).
template <class T>
device_buffer<T> make_buffer(const cuda& /*be*/, size_type n) {
  if (n < 0) detail::fail("make_buffer", "n", ">= 0", n);
  return device_buffer<T>(n);
}

/// dst = src, queued on the backend's stream; at least one side is device memory. A host
/// destination holds the data after be.synchronize() (for pageable memory CUDA completes the copy
/// before returning anyway). A pageable host source may be reused as soon as this returns (CUDA
/// stages it); a pinned one must stay untouched until the copy has run.
template <class S, class SrcSpace, class T, class DstSpace>
  requires same_element<S, T> && (std::is_same_v<SrcSpace, device_space> || std::is_same_v<DstSpace, device_space>)
void copy(const cuda& be, vector_view<S, SrcSpace> src, vector_view<T, DstSpace> dst) {
  detail::require_extent("copy", "dst", "size (src.size)", dst.size(), src.size());
  if (src.empty()) return;
  constexpr bool from_host = std::is_same_v<SrcSpace, host_space>;
  constexpr bool to_host = std::is_same_v<DstSpace, host_space>;
  constexpr cudaMemcpyKind kind = from_host ? cudaMemcpyHostToDevice : to_host ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice;
  BEACON_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), sizeof(T) * static_cast<std::size_t>(src.size()), kind, be.stream()));
}

}  // namespace beacon
