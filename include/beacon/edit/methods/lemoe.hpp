// SPDX-License-Identifier: Apache-2.0
#pragma once
// "lemoe" and "lemoe+plan": the paper-faithful LEMoE — KV-anchor routing (a shared projection, one
// key per expert initialised from its batch's instance embeddings), top-1, MLP experts, one new expert
// per step with earlier experts frozen; routing on the raw instance embedding.

#include "../../moe/adaptor.hpp"
#include "../../moe/kv_anchor_router.hpp"
#include "../../moe/mlp_expert.hpp"
#include "../method.hpp"

namespace beacon::edit::methods {

template <class H, class B>
editing_method<H, B> lemoe(bool planned) {
  return {planned ? "lemoe+plan" : "lemoe", planned, false,
          [](const B& be, const H& host, const edit_set<float>& set, const batch_list& batches, const std::vector<char>& trained, const method_settings& s) {
            using adaptor = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::mlp_expert<activation::relu>, B>;
            auto c = base_config<adaptor>(s);
            return run_method(adaptor(be, c), host, set, batches, trained, s, adaptor_run_options{}, true);
          }};
}

}  // namespace beacon::edit::methods
