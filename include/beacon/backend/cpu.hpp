// SPDX-License-Identifier: Apache-2.0
#pragma once
// The CPU backend and all its primitives.

#include "cpu/activation.hpp"
#include "cpu/cpu.hpp"
#include "cpu/elementwise.hpp"
#include "cpu/gather_scatter.hpp"
#include "cpu/gemm.hpp"
#include "cpu/group.hpp"
#include "cpu/for_each.hpp"
#include "cpu/optimizer.hpp"
#include "cpu/pool.hpp"
#include "cpu/segment_sum.hpp"
#include "cpu/softmax_top_k.hpp"

#include "contract.hpp"

static_assert(beacon::complete_backend<beacon::cpu, float> && beacon::complete_backend<beacon::cpu, double>,
              "beacon::cpu must provide every primitive of the backend contract (backend/contract.hpp)");
