// SPDX-License-Identifier: Apache-2.0
#pragma once
// "lemoe+anchors" and "lemoe+anchors+plan": spec lemoe §12's robust key router — per-expert
// projections frozen with their expert, cosine scores, renormalised top-1, a null route below
// `null_threshold`; keyed on centred instance embeddings; the new expert trains with forced routing.

#include "../../moe/adaptor.hpp"
#include "../../moe/kv_anchor_router.hpp"
#include "../../moe/mlp_expert.hpp"
#include "../method.hpp"

namespace beacon::edit::methods {

template <class H, class B>
editing_method<H, B> lemoe_anchors(bool planned) {
  return {planned ? "lemoe+anchors+plan" : "lemoe+anchors", planned, true,
          [](const B& be, const H& host, const edit_set<float>& set, const batch_list& batches, const std::vector<char>& trained, const method_settings& s) {
            using adaptor = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::mlp_expert<activation::relu>, B>;
            auto c = base_config<adaptor>(s);
            c.router.projection = moe::projection_mode::per_expert_frozen;
            c.router.score = moe::score_function::cosine;
            c.router.gate = moe::gate_norm::renormalize_top_k;
            c.router.null_route = true;
            c.router.null_threshold = s.null_threshold;
            adaptor_run_options o;
            o.forced = true;
            return run_method(adaptor(be, c), host, set, batches, trained, s, o, true);
          }};
}

}  // namespace beacon::edit::methods
