// SPDX-License-Identifier: Apache-2.0
// Compile-time configuration of LEMoE adaptor variants: router x expert (x backend) as types, one
// program. Each variant gets two editing steps on random data and reports its parameter count.
#include <beacon/backend/cpu.hpp>
#include <beacon/beacon.hpp>
#include <beacon/moe.hpp>

#include <cstdio>

namespace moe = beacon::moe;

template <class Adaptor>
void run(const char* label, typename Adaptor::config cfg) {
  using T = typename Adaptor::scalar;
  Adaptor a(beacon::cpu{}, cfg);  // beacon::cpu{threads}: every step of the adaptor uses that many threads
  beacon::row_matrix<T> e = beacon::row_matrix<T>::Random(4, cfg.d_model), x = beacon::row_matrix<T>::Random(12, cfg.d_model);
  beacon::adamw opt;
  opt.lr = 1e-2;
  double loss = 0;
  for (int step = 0; step < 2; ++step) {
    a.insert_expert(moe::expert_init<T>::random_normal(static_cast<std::uint64_t>(step)), beacon::as_view(std::as_const(e)));
    for (int it = 0; it < 20; ++it)
      loss = a.train_step(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)),
                          [](beacon::matrix_view<const T> out, beacon::matrix_view<T> d) {
                            double l = 0;
                            for (beacon::size_type i = 0; i < out.rows(); ++i)
                              for (beacon::size_type j = 0; j < out.cols(); ++j) {
                                d(i, j) = out(i, j) - T(0.1);
                                l += 0.5 * double(d(i, j)) * double(d(i, j));
                              }
                            return l;
                          },
                          opt);
  }
  beacon::size_type params = 0, trainable = 0;
  for (auto* p : a.parameters()) {
    params += p->size();
    trainable += (p->rows() - p->frozen_rows()) * p->cols();
  }
  std::printf("%-44s experts %lld  parameters %6lld  trainable now %6lld  last loss %.4f\n", label, static_cast<long long>(a.experts()),
              static_cast<long long>(params), static_cast<long long>(trainable), loss);
}

int main() {
  // 1. The paper's LEMoE: KV-anchor routing, top-1, SwiGLU experts.
  run<moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, beacon::cpu>>(
      "kv_anchor<top1> x swiglu (paper)", {.d_model = 32, .expert_hidden = 64, .router_rank = 8});
  // 2. A robust variant: per-expert projections frozen with their expert, cosine scores, top-2.
  moe::kv_router_options robust;
  robust.projection = moe::projection_mode::per_expert_frozen;
  robust.score = moe::score_function::cosine;
  run<moe::adaptor<float, moe::kv_anchor_router<moe::top_k<2>>, moe::lora_expert<4, beacon::activation::relu>, beacon::cpu>>(
      "kv_anchor<top2, cosine, per-expert> x lora<4>", {.d_model = 32, .expert_hidden = 64, .router_rank = 8, .router = robust});
  // 3. The conventional MoE adaptor baseline: token-level softmax gate, SiLU MLP experts, double.
  run<moe::adaptor<double, moe::softmax_topk_router<moe::top_k<2>>, moe::mlp_expert<beacon::activation::silu>, beacon::cpu>>(
      "softmax_topk<top2> x mlp<silu> (baseline)", {.d_model = 32, .expert_hidden = 64});
  return 0;
}
