// SPDX-License-Identifier: Apache-2.0
#pragma once
// beacon::cuda — the device backend: a CUDA stream, a cuBLAS handle bound to that stream, and
// growable device scratch. Every operation is queued on the stream and returns at once; only
// synchronize() (and copies into pageable host memory, which CUDA itself completes before
// returning) wait for the GPU, so a chain of beacon calls runs back to back on the device.
//
//   cudaStream_t s;  cudaStreamCreate(&s);
//   beacon::cuda be{s};                  // or beacon::cuda be{}; for the default stream
//   beacon::row_softmax(be, logits, probs);
//   be.synchronize();
//
// The backend binds to the device current at construction; keep that device current while using
// it. The stream belongs to the caller and must outlive the backend and all its copies. Copies
// share the cuBLAS handle and scratch (as beacon::cpu copies share theirs), so one backend object
// serves one calling thread at a time. Creating one is not free (cublasCreate) and destroying the
// last copy synchronises the device (cublasDestroy does): keep one backend per stream and reuse it.
// Beacon's headers need no special nvcc flags and do not include Eigen.

#if !defined(__CUDACC__)
#error "beacon/backend/cuda headers contain CUDA kernels: include them from a .cu file compiled by nvcc"
#endif

#include <cstddef>
#include <memory>
#include <string_view>

#include <cub/version.cuh>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "../../core/backend.hpp"
#include "../../core/workspace.hpp"
#include "check.cuh"

// Debian's libthrust-dev/libcub-dev (1.17) would shadow the toolkit's CCCL if it came first on the
// include path; beacon's CUDA code is written against CCCL 3 (CUDA 13's include/cccl).
#if !defined(CCCL_VERSION)
#error "beacon::cuda needs CCCL >= 3.0 (CUDA 13's include/cccl); an older Thrust/CUB (e.g. Debian's libthrust-dev 1.17) is first on the include path"
#endif
static_assert(CCCL_VERSION >= 3000000,
              "beacon::cuda needs CCCL >= 3.0 (CUDA 13's include/cccl), not an older Thrust/CUB such as Debian's 1.17: "
              "put <cuda>/include/cccl first on the include path or link beacon::cuda");

namespace beacon {

namespace detail {

/// Device scratch that grows in stream order: cudaFreeAsync/cudaMallocAsync on the owning stream,
/// so growing never waits for the GPU, and the old block is released only after the work queued
/// before the growth is done with it. Contents are not preserved on growth.
class device_workspace {
 public:
  explicit device_workspace(cudaStream_t stream) noexcept : stream_(stream) {}
  device_workspace(const device_workspace&) = delete;
  device_workspace& operator=(const device_workspace&) = delete;
  ~device_workspace() {
    // A destructor cannot report failure (e.g. the CUDA runtime is already shutting down).
    if (data_ != nullptr) static_cast<void>(cudaFreeAsync(data_, stream_));
  }

  workspace_arena<device_space> reserve(std::size_t bytes) {
    if (bytes > capacity_) {
      const std::size_t rounded = align_up(bytes);
      if (data_ != nullptr) {
        void* old = data_;
        data_ = nullptr;
        capacity_ = 0;
        BEACON_CUDA_CHECK(cudaFreeAsync(old, stream_));
      }
      void* fresh = nullptr;
      BEACON_CUDA_CHECK(cudaMallocAsync(&fresh, rounded, stream_));
      data_ = fresh;
      capacity_ = rounded;
    }
    return workspace_arena<device_space>(data_, capacity_);
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

 private:
  cudaStream_t stream_;
  void* data_ = nullptr;
  std::size_t capacity_ = 0;
};

/// Owns a cuBLAS handle.
class cublas_handle {
 public:
  cublas_handle() { BEACON_CUBLAS_CHECK(cublasCreate(&handle_)); }
  cublas_handle(const cublas_handle&) = delete;
  cublas_handle& operator=(const cublas_handle&) = delete;
  ~cublas_handle() { static_cast<void>(cublasDestroy(handle_)); }
  [[nodiscard]] cublasHandle_t get() const noexcept { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

/// What copies of one beacon::cuda share.
struct cuda_state {
  explicit cuda_state(cudaStream_t s) : stream(s), scratch(s), primitive_scratch(s) {
    BEACON_CUDA_CHECK(cudaGetDevice(&device));
    BEACON_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device));
    BEACON_CUBLAS_CHECK(cublasSetStream(blas.get(), stream));
    BEACON_CUBLAS_CHECK(cublasSetPointerMode(blas.get(), CUBLAS_POINTER_MODE_HOST));
  }
  cudaStream_t stream;
  int device = 0;
  int multiprocessors = 1;
  cublas_handle blas;
  device_workspace scratch;
  device_workspace primitive_scratch;
};

}  // namespace detail

class cuda {
 public:
  using memory_space = device_space;

  /// On the default stream, with its own cuBLAS handle.
  cuda() : cuda(cudaStream_t{}) {}
  /// On `stream` (owned by the caller), with its own cuBLAS handle bound to that stream.
  explicit cuda(cudaStream_t stream) : state_(std::make_shared<detail::cuda_state>(stream)) {}

  static constexpr std::string_view name() noexcept { return "cuda"; }

  /// Blocks until all work queued on the stream has finished (the only blocking call).
  void synchronize() const { BEACON_CUDA_CHECK(cudaStreamSynchronize(state_->stream)); }

  [[nodiscard]] cudaStream_t stream() const noexcept { return state_->stream; }
  [[nodiscard]] cublasHandle_t cublas() const noexcept { return state_->blas.get(); }
  [[nodiscard]] int device() const noexcept { return state_->device; }
  [[nodiscard]] int multiprocessors() const noexcept { return state_->multiprocessors; }

  /// Device scratch of at least `bytes` for algorithms, shared by copies of this backend object;
  /// valid until the next call to scratch(). Growing it is stream-ordered (no host wait).
  [[nodiscard]] workspace_arena<device_space> scratch(std::size_t bytes) const { return state_->scratch.reserve(bytes); }

  /// Scratch for beacon's own primitives (sum, group_rows_by_key): separate from scratch(), so a
  /// primitive called inside an algorithm never invalidates the arena that algorithm holds.
  [[nodiscard]] workspace_arena<device_space> primitive_scratch(std::size_t bytes) const {
    return state_->primitive_scratch.reserve(bytes);
  }

 private:
  std::shared_ptr<detail::cuda_state> state_;
};

static_assert(backend<cuda>);

}  // namespace beacon
