// SPDX-License-Identifier: Apache-2.0
#pragma once
// "lemoe+keys", "lemoe+keys+plan" and "lemoe+keys+clusters": key-per-expert routing that holds (edit_bench.md, "Why the
// paper-faithful router collapses") — one key per expert, as in the paper, but no learned projection
// (projection_mode::identity) and no key training: the key is the normalised mean of its batch's
// centred instance embeddings, fixed when the expert is inserted; route to the nearest key by cosine,
// renormalised top-1, no expert below `null_threshold`; the new expert trains with forced routing.
// Router memory is one d-vector per expert, independent of the number of edits. With one batch per
// k-means cluster (+clusters) every edit prompt is nearest its own batch's centre, so routing
// reproduces the batches; equal-size planned batches (+plan) spill a cluster's far members into the
// next batch; with a random order the batch means nearly coincide and routing is near chance.

#include "../../moe/adaptor.hpp"
#include "../../moe/kv_anchor_router.hpp"
#include "../../moe/mlp_expert.hpp"
#include "../method.hpp"

namespace beacon::edit::methods {

enum class key_batches { random, planned, whole_clusters };

template <class H, class B>
editing_method<H, B> lemoe_centroid_keys(key_batches order) {
  const char* name = order == key_batches::random ? "lemoe+keys" : order == key_batches::planned ? "lemoe+keys+plan" : "lemoe+keys+clusters";
  return {name, order != key_batches::random, true,
          [](const B& be, const H& host, const edit_set<float>& set, const batch_list& batches, const std::vector<char>& trained, const method_settings& s) {
            using adaptor = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::mlp_expert<activation::relu>, B>;
            auto c = base_config<adaptor>(s);
            c.router.projection = moe::projection_mode::identity;
            c.router.key = moe::key_init::normalized_batch_mean;
            c.router.score = moe::score_function::cosine;
            c.router.gate = moe::gate_norm::renormalize_top_k;
            c.router.null_route = true;
            c.router.null_threshold = s.key_threshold;
            adaptor_run_options o;
            o.forced = true;
            return run_method(adaptor(be, c), host, set, batches, trained, s, o, true);
          },
          order == key_batches::whole_clusters};
}

}  // namespace beacon::edit::methods
