#pragma once
// LEMoE: the lifelong-editing MoE adaptor, its experts, routers and dispatch, and (moe/ops/) the
// backend-generic building blocks (routing, dispatch, grouped experts, AdamW) that also run on CUDA.

#include "moe/activation.hpp"
#include "moe/adaptor.hpp"
#include "moe/dispatch.hpp"
#include "moe/instance_anchor_router.hpp"
#include "moe/kv_anchor_router.hpp"
#include "moe/lora_expert.hpp"
#include "moe/mlp_expert.hpp"
#include "moe/ops/adamw.hpp"
#include "moe/ops/grouped_dispatch.hpp"
#include "moe/ops/grouped_expert.hpp"
#include "moe/ops/kv_route.hpp"
#include "moe/parameter.hpp"
#include "moe/routing.hpp"
#include "moe/softmax_topk_router.hpp"
#include "moe/swiglu_expert.hpp"
