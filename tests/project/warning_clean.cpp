// SPDX-License-Identifier: Apache-2.0
// A user's translation unit: every public host header, compiled with -Wall -Wextra -Wpedantic
// -Werror (tests/CMakeLists.txt), and one adaptor of each router instantiated and run, so the
// templates a user instantiates are warning-clean too. Built by every compiler CI uses.
#include <beacon/backend/cpu.hpp>
#include <beacon/beacon.hpp>
#include <beacon/diffusion.hpp>
#include <beacon/io/adaptor_checkpoint.hpp>
#include <beacon/io/npy.hpp>
#include <beacon/moe.hpp>
#include <beacon/plan.hpp>
#include <beacon/semantic.hpp>

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>

namespace moe = beacon::moe;

template <class Router, class Expert>
beacon::row_matrix<float> run() {
  using A = moe::adaptor<float, Router, Expert, beacon::cpu>;
  A a(beacon::cpu{1}, {.d_model = 8, .expert_hidden = 6, .router_rank = 4});
  beacon::row_matrix<float> e = beacon::row_matrix<float>::Ones(2, 8), x = beacon::row_matrix<float>::Ones(4, 8), out(4, 8);
  e(0, 0) = 2.0f;  // two distinct instances (per-instance anchors route each to its own anchor)
  e(1, 1) = 2.0f;
  a.insert_expert(moe::expert_init<float>::random_normal(1), beacon::as_view(std::as_const(e)));
  beacon::adamw opt;
  a.train_step(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)),
               [](beacon::matrix_view<const float> o, beacon::matrix_view<float> d) {
                 for (beacon::size_type i = 0; i < o.rows(); ++i)
                   for (beacon::size_type j = 0; j < o.cols(); ++j) d(i, j) = o(i, j) - 1.0f;
                 return 0.0;
               },
               opt);
  a.forward(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)), beacon::as_view(out));
  return out;
}

TEST_CASE("a user translation unit with every public header builds with -Werror and its adaptors run") {
  const auto kv = run<moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert>();
  const auto gate = run<moe::softmax_topk_router<moe::top_k<2>>, moe::mlp_expert<beacon::activation::gelu>>();
  const auto anchors = run<moe::instance_anchor_router<moe::top_k<1>>, moe::lora_expert<2>>();
  // One AdamW step toward 1 moved every adaptor's output off the no-op insertion's exact zero.
  for (const auto* out : {&kv, &gate, &anchors}) {
    CHECK(out->allFinite());
    CHECK(out->cwiseAbs().maxCoeff() > 0.0f);
  }
}
