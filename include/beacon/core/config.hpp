// SPDX-License-Identifier: Apache-2.0
#pragma once
// Compile-environment switches shared by every beacon header.
//
// BEACON_HD marks functions callable from host and device code. Under a host compiler it is
// plain `inline`, so the same Philox or reduction code serves both the CPU backend and CUDA kernels.

#if defined(__CUDACC__)
#define BEACON_HAS_CUDA 1
#define BEACON_HD __host__ __device__ inline
#define BEACON_DEVICE __device__ inline
#else
#define BEACON_HAS_CUDA 0
#define BEACON_HD inline
#endif

#if defined(__CUDA_ARCH__)
#define BEACON_DEVICE_PASS 1
#else
#define BEACON_DEVICE_PASS 0
#endif

#define BEACON_VERSION_MAJOR 0
#define BEACON_VERSION_MINOR 2
#define BEACON_VERSION_PATCH 0
#define BEACON_VERSION_STRING "0.2.0"

#include <cstdint>

namespace beacon {
/// Index type of row and column counts and strides: 64-bit, so 10^6 x 4096 tensors never overflow.
using size_type = std::int64_t;
/// Element type of index arrays (expert ids, gather indices, labels): 32-bit, as MoE kernels use.
using index_type = std::int32_t;
}  // namespace beacon
