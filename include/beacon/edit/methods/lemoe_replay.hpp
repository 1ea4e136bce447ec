// SPDX-License-Identifier: Apache-2.0
#pragma once
// "lemoe+replay": spec lemoe §12 — one key per expert with a shared projection, plus a router
// cross-entropy over every batch's instances so far (labels = their expert); renormalised top-1
// gate; the new expert trains on its own batch (forced), the router learns only from the replay.

#include "../../moe/adaptor.hpp"
#include "../../moe/kv_anchor_router.hpp"
#include "../../moe/mlp_expert.hpp"
#include "../method.hpp"

namespace beacon::edit::methods {

template <class H, class B>
editing_method<H, B> lemoe_replay() {
  return {"lemoe+replay", false, false,
          [](const B& be, const H& host, const edit_set<float>& set, const batch_list& batches, const std::vector<char>& trained, const method_settings& s) {
            using adaptor = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::mlp_expert<activation::relu>, B>;
            auto c = base_config<adaptor>(s);
            c.router.gate = moe::gate_norm::renormalize_top_k;
            c.router.train_route = moe::training_route::forced_to_new;
            adaptor_run_options o;
            o.forced = true;
            o.replay = true;
            return run_method(adaptor(be, c), host, set, batches, trained, s, o, true);
          }};
}

}  // namespace beacon::edit::methods
