// SPDX-License-Identifier: Apache-2.0
#pragma once
// The CUDA backend and all its primitives (nvcc only: include from .cu files). The same operations,
// names and argument order as backend/cpu.hpp, taking `const beacon::cuda&` and device_space views;
// handing a host view to one of them does not compile.
//
// Everything is queued on the backend's stream; nothing synchronises behind the caller's back.
// Shapes are checked on the host with the CPU backend's exact messages; checks that need the data
// (NaN logits, index ranges, all-zero masks, offsets) are the CPU backend's alone (see each header).

#include "cuda/activation.cuh"
#include "cuda/buffer.cuh"
#include "cuda/check.cuh"
#include "cuda/cuda.cuh"
#include "cuda/elementwise.cuh"
#include "cuda/gather_scatter.cuh"
#include "cuda/gemm.cuh"
#include "cuda/group.cuh"
#include "cuda/launch.cuh"
#include "cuda/for_each.cuh"
#include "cuda/optimizer.cuh"
#include "cuda/pool.cuh"
#include "cuda/segment_sum.cuh"
#include "cuda/softmax_top_k.cuh"

#include "contract.hpp"

static_assert(beacon::complete_backend<beacon::cuda, float> && beacon::complete_backend<beacon::cuda, double>,
              "beacon::cuda must provide every primitive of the backend contract (backend/contract.hpp)");
