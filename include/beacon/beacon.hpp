// SPDX-License-Identifier: Apache-2.0
#pragma once
// beacon umbrella header: every host-safe module (core, the backend contract, the CPU backend, moe,
// plan, semantic, diffusion, io, edit). CUDA users include <beacon/beacon.cuh> in their .cu files
// instead: the same plus the CUDA backend and the CUDA fused paths.

#include "core/activation.hpp"
#include "core/adamw.hpp"
#include "core/backend.hpp"
#include "core/config.hpp"
#include "core/eigen.hpp"
#include "core/error.hpp"
#include "core/gemm_shape.hpp"
#include "core/host_buffer.hpp"
#include "core/philox.hpp"
#include "core/reduce.hpp"
#include "core/view.hpp"
#include "core/views_of.hpp"
#include "core/workspace.hpp"

#include "backend/contract.hpp"
#include "backend/cpu.hpp"
#include "backend/nearest_row.hpp"
#include "backend/transfer.hpp"

#include "diffusion.hpp"
#include "edit.hpp"
#include "io.hpp"
#include "moe.hpp"
#include "plan.hpp"
#include "semantic.hpp"
