// SPDX-License-Identifier: Apache-2.0
#pragma once
// LEMoE: the lifelong-editing MoE adaptor (written once over the backend: beacon::cpu or
// beacon::cuda), its routers and experts, and the building blocks it is made of (dispatch, grouped
// experts, the MoE row kernels).

#include "moe/adaptor.hpp"
#include "moe/dispatch.hpp"
#include "moe/expert_common.hpp"
#include "moe/expert_init.hpp"
#include "moe/grouped_expert.hpp"
#include "moe/instance_anchor_router.hpp"
#include "moe/kv_anchor_router.hpp"
#include "moe/lora_expert.hpp"
#include "moe/mlp_expert.hpp"
#include "moe/parameter.hpp"
#include "moe/routing.hpp"
#include "moe/softmax_topk_router.hpp"
#include "moe/swiglu_expert.hpp"
