// SPDX-License-Identifier: Apache-2.0
#pragma once
// "moe" and "lemoe-gate": a token-level softmax gate over MLP experts. moe: the conventional MoE
// adaptor (every expert exists and trains from the start); lemoe-gate: LEMoE insertion (one new
// expert per step, earlier ones frozen) with a learned softmax gate over all experts.

#include "../../moe/adaptor.hpp"
#include "../../moe/mlp_expert.hpp"
#include "../../moe/softmax_topk_router.hpp"
#include "../method.hpp"

namespace beacon::edit::methods {

template <class H, class B>
editing_method<H, B> moe_gate(bool lifelong) {
  return {lifelong ? "lemoe-gate" : "moe", false, false,
          [lifelong](const B& be, const H& host, const edit_set<float>& set, const batch_list& batches, const std::vector<char>& trained, const method_settings& s) {
            using adaptor = moe::adaptor<float, moe::softmax_topk_router<moe::top_k<1>>, moe::mlp_expert<activation::relu>, B>;
            auto c = base_config<adaptor>(s);
            c.router.gate = moe::gate_norm::softmax_all_experts;  // a learned gate (renormalised top-1 would have no gradient)
            c.freeze_earlier_experts = lifelong;
            adaptor_run_options o;
            o.insert_each_step = lifelong;
            return run_method(adaptor(be, c), host, set, batches, trained, s, o, false);
          }};
}

}  // namespace beacon::edit::methods
