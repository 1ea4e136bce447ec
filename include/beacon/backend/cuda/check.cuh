// SPDX-License-Identifier: Apache-2.0
#pragma once
// CUDA runtime and cuBLAS status codes -> beacon::cuda_error, with a message naming the call:
//   beacon::cuda: cudaMallocAsync(&fresh, rounded, stream_) failed with cudaErrorMemoryAllocation (out of memory)
// Device code never throws; every status is checked on the host right after the call returns.

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "../../core/error.hpp"

namespace beacon::detail {

/// Throws cuda_error unless `status` is cudaSuccess; `call` names what was called.
inline void cuda_check(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  throw cuda_error(concat("beacon::cuda: ", call, " failed with ", cudaGetErrorName(status), " (",
                          cudaGetErrorString(status), ")"),
                   static_cast<int>(status));
}

/// Throws cuda_error unless `status` is CUBLAS_STATUS_SUCCESS; `call` names what was called.
inline void cublas_check(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw cuda_error(concat("beacon::cuda: ", call, " failed with ", cublasGetStatusName(status), " (",
                          cublasGetStatusString(status), ")"),
                   static_cast<int>(status));
}

/// After a kernel launch: reports a bad launch configuration (or an earlier asynchronous error)
/// without synchronising. Faults inside the kernel surface at the next synchronising call.
inline void check_launch(const char* fn) {
  const cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) return;
  throw cuda_error(concat("beacon::", fn, ": kernel launch failed with ", cudaGetErrorName(status), " (",
                          cudaGetErrorString(status), ")"),
                   static_cast<int>(status));
}

}  // namespace beacon::detail

/// BEACON_CUDA_CHECK(cudaMemsetAsync(p, 0, n, s)): throws beacon::cuda_error naming the expression.
#define BEACON_CUDA_CHECK(...) ::beacon::detail::cuda_check((__VA_ARGS__), #__VA_ARGS__)
/// BEACON_CUBLAS_CHECK(cublasSetStream(h, s)): throws beacon::cuda_error naming the expression.
#define BEACON_CUBLAS_CHECK(...) ::beacon::detail::cublas_check((__VA_ARGS__), #__VA_ARGS__)
