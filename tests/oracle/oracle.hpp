// SPDX-License-Identifier: Apache-2.0
#pragma once
// The test oracle: LEMoE written a second time in plain Eigen loops (CPU only, namespace
// beacon::oracle). It is the implementation the spec's hand-checked cases (TC-1..TC-7) and the
// finite-difference tests validate, and the one tests/cpu/moe_adaptor_test.cpp compares the
// library's backend-generic moe::adaptor against. Not part of the library.

#include "adaptor.hpp"
#include "dispatch.hpp"
#include "instance_anchor_router.hpp"
#include "kv_anchor_router.hpp"
#include "lora_expert.hpp"
#include "mlp_expert.hpp"
#include "softmax_topk_router.hpp"
#include "swiglu_expert.hpp"
