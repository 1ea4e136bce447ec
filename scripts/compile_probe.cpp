// SPDX-License-Identifier: Apache-2.0
// What a user pays: the umbrella header and one adaptor (the paper's KV-anchor router x SwiGLU),
// constructed, given an expert and run forward. scripts/measure_compile.py --probe times it.
#include <beacon/beacon.hpp>

#include <utility>

namespace moe = beacon::moe;

int main() {
  using adaptor = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, beacon::cpu>;
  adaptor a(beacon::cpu{}, {.d_model = 32, .expert_hidden = 64, .router_rank = 8});
  beacon::row_matrix<float> e = beacon::row_matrix<float>::Random(4, 32), x = beacon::row_matrix<float>::Random(12, 32);
  a.insert_expert(moe::expert_init<float>::random_normal(1), beacon::as_view(std::as_const(e)));
  beacon::row_matrix<float> y(12, 32);
  a.forward(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)), beacon::as_view(y));
  return y(0, 0) > 100 ? 1 : 0;
}
