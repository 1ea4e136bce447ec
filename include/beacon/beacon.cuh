// SPDX-License-Identifier: Apache-2.0
#pragma once
// beacon umbrella header for nvcc (.cu files): every host-safe module (beacon.hpp), the CUDA
// backend and the CUDA fused paths (the semantic loss). Host-only translation units include
// <beacon/beacon.hpp> instead.

#include "beacon.hpp"

#include "backend/cuda.cuh"
#include "semantic/reweighted_loss.cuh"
