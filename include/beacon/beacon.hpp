// SPDX-License-Identifier: Apache-2.0
#pragma once
// beacon umbrella header: everything that compiles with a plain host C++20 compiler.
// CUDA users add #include <beacon/backend/cuda.cuh> in their .cu files.

#include "core/backend.hpp"
#include "core/config.hpp"
#include "core/eigen.hpp"
#include "core/error.hpp"
#include "core/gemm_shape.hpp"
#include "core/philox.hpp"
#include "core/reduce.hpp"
#include "core/view.hpp"
#include "core/workspace.hpp"

#include "backend/cpu.hpp"
