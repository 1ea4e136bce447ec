#pragma once
// LEMoE: the lifelong-editing MoE adaptor, its experts, routers and dispatch.

#include "moe/activation.hpp"
#include "moe/adaptor.hpp"
#include "moe/dispatch.hpp"
#include "moe/instance_anchor_router.hpp"
#include "moe/kv_anchor_router.hpp"
#include "moe/lora_expert.hpp"
#include "moe/mlp_expert.hpp"
#include "moe/parameter.hpp"
#include "moe/routing.hpp"
#include "moe/softmax_topk_router.hpp"
#include "moe/swiglu_expert.hpp"
