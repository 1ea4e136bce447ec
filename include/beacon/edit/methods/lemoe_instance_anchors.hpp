// SPDX-License-Identifier: Apache-2.0
#pragma once
// "lemoe+instance-anchors" and "+plan": spec lemoe §12's per-instance anchors — every edited instance
// is an anchor of its expert, nearest anchor by centred cosine (the router centres internally), a
// null route below `anchor_threshold`; the new expert trains with forced routing.

#include "../../moe/adaptor.hpp"
#include "../../moe/instance_anchor_router.hpp"
#include "../../moe/mlp_expert.hpp"
#include "../method.hpp"

namespace beacon::edit::methods {

template <class H, class B>
editing_method<H, B> lemoe_instance_anchors(bool planned) {
  return {planned ? "lemoe+instance-anchors+plan" : "lemoe+instance-anchors", planned, false,
          [](const B& be, const H& host, const edit_set<float>& set, const batch_list& batches, const std::vector<char>& trained, const method_settings& s) {
            using adaptor = moe::adaptor<float, moe::instance_anchor_router<moe::top_k<1>>, moe::mlp_expert<activation::relu>, B>;
            auto c = base_config<adaptor>(s);
            c.router.threshold = s.anchor_threshold;
            adaptor_run_options o;
            o.forced = true;
            return run_method(adaptor(be, c), host, set, batches, trained, s, o, true);
          }};
}

}  // namespace beacon::edit::methods
