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

#include <cstdio>

namespace moe = beacon::moe;

template <class Router, class Expert>
double run() {
  using A = moe::adaptor<float, Router, Expert, beacon::cpu>;
  A a(beacon::cpu{1}, {.d_model = 8, .expert_hidden = 6, .router_rank = 4});
  beacon::row_matrix<float> e = beacon::row_matrix<float>::Ones(2, 8), x = beacon::row_matrix<float>::Ones(4, 8), out(4, 8);
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
  return static_cast<double>(out.sum());
}

int main() {
  const double s = run<moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert>() +
                   run<moe::softmax_topk_router<moe::top_k<2>>, moe::mlp_expert<beacon::activation::gelu>>() +
                   run<moe::instance_anchor_router<moe::top_k<1>>, moe::lora_expert<2>>();
  std::printf("warning-clean translation unit ran (checksum %.3g)\n", s);
  return 0;
}
