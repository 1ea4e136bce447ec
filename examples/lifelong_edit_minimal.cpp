// SPDX-License-Identifier: Apache-2.0
// A minimal lifelong edit loop: 3 editing steps, each inserts an expert (earlier ones freeze),
// trains it until the batch's targets are met, and then every earlier batch is re-checked.
#include <beacon/backend/cpu.hpp>
#include <beacon/beacon.hpp>
#include <beacon/moe.hpp>

#include <cstdio>
#include <vector>

namespace moe = beacon::moe;
using Adaptor = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::mlp_expert<beacon::activation::relu>, beacon::cpu>;

int main() {
  const beacon::size_type d = 16, per_batch = 8, length = 4;
  moe::kv_router_options o;
  o.gate = moe::gate_norm::renormalize_top_k;                 // gate 1 for the chosen expert (no dilution)
  o.projection = moe::projection_mode::per_expert_frozen;     // old routes stay exactly as trained
  o.score = moe::score_function::cosine;
  Adaptor a(beacon::cpu{}, {.d_model = d, .expert_hidden = 32, .router_rank = 16, .router = o, .seed = 1});
  beacon::adamw opt;
  opt.lr = 3e-2;
  opt.weight_decay = 0;
  struct batch {
    beacon::row_matrix<float> e, x, target;
  };
  std::vector<batch> seen;
  for (int step = 0; step < 3; ++step) {
    batch b{beacon::row_matrix<float>::Random(per_batch, d) * 0.1f, beacon::row_matrix<float>::Random(per_batch * length, d),
            beacon::row_matrix<float>::Random(per_batch * length, d)};
    b.e.col(step).array() += 1.0f;  // each step's edits are about a different "topic"
    a.insert_expert(moe::expert_init<float>::random_normal(static_cast<std::uint64_t>(step), 0.3), beacon::as_view(std::as_const(b.e)));
    double loss = 1e9;
    int it = 0;
    for (; it < 2000 && loss > 1e-3; ++it)
      loss = a.train_step(beacon::as_view(std::as_const(b.x)), beacon::as_view(std::as_const(b.e)),
                          [&](beacon::matrix_view<const float> out, beacon::matrix_view<float> dout) {
                            double l = 0;
                            for (beacon::size_type i = 0; i < out.rows(); ++i)
                              for (beacon::size_type j = 0; j < out.cols(); ++j) {
                                dout(i, j) = (out(i, j) - b.target(i, j)) / float(out.rows());
                                l += 0.5 * double(out(i, j) - b.target(i, j)) * double(out(i, j) - b.target(i, j)) / double(out.rows());
                              }
                            return l;
                          },
                          opt);
    seen.push_back(b);
    std::printf("step %d: expert %d trained in %d iterations (loss %.5f)\n", step, step, it, loss);
    for (std::size_t s = 0; s < seen.size(); ++s) {
      beacon::row_matrix<float> out(per_batch * length, d);
      a.forward(beacon::as_view(std::as_const(seen[s].x)), beacon::as_view(std::as_const(seen[s].e)), beacon::as_view(out));
      const auto routes = a.route_top1(beacon::as_view(std::as_const(seen[s].e)));
      int own = 0;
      for (auto r : routes) own += r == static_cast<beacon::index_type>(s);
      std::printf("   batch %zu: mean squared error %.5f, %d/%lld edits routed to expert %zu\n", s,
                  (out - seen[s].target).squaredNorm() / double(out.rows()), own, static_cast<long long>(per_batch), s);
    }
  }
  return 0;
}
