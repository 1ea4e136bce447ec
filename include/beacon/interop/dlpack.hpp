// SPDX-License-Identifier: Apache-2.0
#pragma once
// Zero-copy views from and to DLPack tensors (<dlpack/dlpack.h>, Debian libdlpack-dev), the exchange
// format of PyTorch, JAX, CuPy, TVM and others:
//
//   DLManagedTensor* m = at::toDLPack(t);                       // e.g. a torch::Tensor
//   auto x = beacon::interop::matrix_from_dlpack<float>(m->dl_tensor);            // host rows, no copy
//   DLManagedTensor* out = beacon::interop::to_dlpack(beacon::as_view(y));        // hand beacon memory out
//   torch::Tensor u = at::fromDLPack(out);                      // shares y's memory; y must outlive u
//
// A view never owns memory: a tensor stays owned by its producer (keep the DLManagedTensor alive
// while the view is used), and memory handed out by to_dlpack stays owned by its beacon buffer
// (the DLManagedTensor's deleter frees only the shape and stride arrays). A tensor the view cannot
// express (another element type, rank, a column stride other than 1, another device) is a
// value_error naming the tensor's property, the expected and the actual value.

#include <dlpack/dlpack.h>

#include <cstdint>
#include <type_traits>

#include "../core/error.hpp"
#include "../core/view.hpp"

namespace beacon::interop {

/// The DLPack element type of T (float, double, the signed and unsigned integers).
template <class T>
constexpr DLDataType dlpack_type() {
  using U = std::remove_const_t<T>;
  static_assert(std::is_arithmetic_v<U> && !std::is_same_v<U, bool>, "interop::dlpack_type: T must be a floating-point or integer type");
  const std::uint8_t code = std::is_floating_point_v<U> ? static_cast<std::uint8_t>(kDLFloat)
                            : std::is_signed_v<U>       ? static_cast<std::uint8_t>(kDLInt)
                                                        : static_cast<std::uint8_t>(kDLUInt);
  return DLDataType{code, static_cast<std::uint8_t>(8 * sizeof(U)), 1};
}

/// The DLPack device type of a beacon memory space.
template <class Space>
constexpr DLDeviceType dlpack_device() {
  return std::is_same_v<Space, device_space> ? kDLCUDA : kDLCPU;
}

namespace detail {

template <class T, class Space>
T* checked_data(const DLTensor& t, const char* fn) {
  const DLDataType want = dlpack_type<T>();
  if (t.dtype.code != want.code || t.dtype.bits != want.bits || t.dtype.lanes != 1)
    beacon::fail(fn, "tensor.dtype", beacon::concat("code ", int(want.code), ", ", int(want.bits), " bits, 1 lane"),
                 beacon::concat("code ", int(t.dtype.code), ", ", int(t.dtype.bits), " bits, ", t.dtype.lanes, " lanes"));
  const DLDeviceType dev = dlpack_device<Space>();
  const bool host_ok = dev == kDLCPU && (t.device.device_type == kDLCPU || t.device.device_type == kDLCUDAHost);
  const bool device_ok = dev == kDLCUDA && (t.device.device_type == kDLCUDA || t.device.device_type == kDLCUDAManaged);
  if (!host_ok && !device_ok)
    beacon::fail(fn, "tensor.device.device_type", dev == kDLCPU ? "kDLCPU (or kDLCUDAHost) for a host view" : "kDLCUDA (or kDLCUDAManaged) for a device view",
                 static_cast<int>(t.device.device_type));
  if (t.byte_offset % alignof(T) != 0) beacon::fail(fn, "tensor.byte_offset", beacon::concat("a multiple of ", alignof(T)), t.byte_offset);
  if (!t.data && t.ndim > 0) {
    std::int64_t n = 1;
    for (int i = 0; i < t.ndim; ++i) n *= t.shape[i];
    if (n != 0) beacon::fail(fn, "tensor.data", "non-null for a non-empty tensor", "null");
  }
  return reinterpret_cast<T*>(static_cast<char*>(t.data) + t.byte_offset);
}

}  // namespace detail

/// A row-major matrix view of a 2-D tensor: rows = shape[0], cols = shape[1], ld = strides[0]
/// (strides null = compact); strides[1] must be 1 (a transposed tensor must be made contiguous first).
template <class T, class Space = host_space>
matrix_view<T, Space> matrix_from_dlpack(const DLTensor& t) {
  const char* fn = "interop::matrix_from_dlpack";
  if (t.ndim != 2) beacon::fail(fn, "tensor.ndim", "2", t.ndim);
  T* data = detail::checked_data<T, Space>(t, fn);
  const std::int64_t rows = t.shape[0], cols = t.shape[1];
  if (rows < 0 || cols < 0) beacon::fail(fn, "tensor.shape", "extents >= 0", beacon::concat(rows, " x ", cols));
  std::int64_t ld = cols;
  if (t.strides) {
    if (t.strides[1] != 1 && cols > 1) beacon::fail(fn, "tensor.strides[1]", "1 (unit column stride: a contiguous row-major tensor)", t.strides[1]);
    if (rows > 1) ld = t.strides[0];
    if (ld < cols) beacon::fail(fn, "tensor.strides[0]", beacon::concat(">= cols (", cols, ")"), ld);
  }
  return matrix_view<T, Space>(data, static_cast<size_type>(rows), static_cast<size_type>(cols), static_cast<size_type>(ld));
}

/// A vector view of a 1-D tensor with unit stride.
template <class T, class Space = host_space>
vector_view<T, Space> vector_from_dlpack(const DLTensor& t) {
  const char* fn = "interop::vector_from_dlpack";
  if (t.ndim != 1) beacon::fail(fn, "tensor.ndim", "1", t.ndim);
  T* data = detail::checked_data<T, Space>(t, fn);
  if (t.shape[0] < 0) beacon::fail(fn, "tensor.shape[0]", ">= 0", t.shape[0]);
  if (t.strides && t.strides[0] != 1 && t.shape[0] > 1) beacon::fail(fn, "tensor.strides[0]", "1", t.strides[0]);
  return vector_view<T, Space>(data, static_cast<size_type>(t.shape[0]));
}

namespace detail {
/// What a DLManagedTensor from to_dlpack owns: its shape and strides (not the data).
struct dlpack_export {
  DLManagedTensor managed{};
  std::int64_t shape[2] = {0, 0};
  std::int64_t strides[2] = {0, 1};
};
}  // namespace detail

/// A DLManagedTensor describing `m` (2-D, strides {ld, 1}) on `device_id`, for a framework to wrap
/// without a copy. The caller (or the framework that takes it) calls its deleter once; the memory
/// stays beacon's and must outlive every tensor made from it. `const` views are exported as
/// writable DLPack tensors (DLPack 0.6 has no read-only flag): do not write through them.
template <class T, class Space>
DLManagedTensor* to_dlpack(matrix_view<T, Space> m, int device_id = 0) {
  auto* e = new detail::dlpack_export;
  e->shape[0] = m.rows(), e->shape[1] = m.cols();
  e->strides[0] = m.ld(), e->strides[1] = 1;
  DLTensor& t = e->managed.dl_tensor;
  t.data = const_cast<std::remove_const_t<T>*>(m.data());
  t.device = DLDevice{dlpack_device<Space>(), device_id};
  t.ndim = 2;
  t.dtype = dlpack_type<T>();
  t.shape = e->shape;
  t.strides = e->strides;
  t.byte_offset = 0;
  e->managed.manager_ctx = e;
  e->managed.deleter = [](DLManagedTensor* self) { delete static_cast<detail::dlpack_export*>(self->manager_ctx); };
  return &e->managed;
}

}  // namespace beacon::interop
