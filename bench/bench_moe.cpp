// SPDX-License-Identifier: Apache-2.0
// LEMoE adaptor on the CPU backend (issue 3): KV-anchor routing including the projection and score
// GEMMs (2 T H d_p + 2 T d_p d_k + 2 T d_k E FLOP), and one adaptor forward (routing, dispatch and
// one SwiGLU expert GEMM chain per expert: 6 T H F FLOP with top-1), and the backend-generic grouped
// expert FFN forward (moe/grouped_expert.hpp) that bench_core_cuda.cu also times on the GPU; and the routing
// grid (softmax top-k gate and KV-anchor routing, GEMMs included) through the backend-generic paths.
#include <beacon/backend/cpu.hpp>
#include <beacon/beacon.hpp>
#include <beacon/moe.hpp>

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include "roofline.hpp"

namespace {
using beacon::size_type;
namespace moe = beacon::moe;

beacon::row_matrix<float> random_rows(size_type r, size_type c, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  beacon::row_matrix<float> m(r, c);
  for (long i = 0; i < m.size(); ++i) m.data()[i] = g(gen);
  return m;
}

// One adaptor forward: T tokens (one per instance), E SwiGLU experts of width F, top-1, on
// cpu{threads}. FLOP counts the expert FFNs (6 T h F); the routing GEMMs are small beside them.
void BM_adaptor_forward(benchmark::State& st) {
  const size_type t = st.range(0), h = st.range(1), f = st.range(2), e = st.range(3);
  const int threads = static_cast<int>(st.range(4));
  using A = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, beacon::cpu>;
  A a(beacon::cpu{threads}, {.d_model = h, .expert_hidden = f, .router_rank = h / 4});
  for (size_type i = 0; i < e; ++i) {
    const auto batch = random_rows(8, h, 10 + static_cast<unsigned>(i));
    a.insert_expert(moe::expert_init<float>::random_normal(static_cast<std::uint64_t>(i)), beacon::as_view(batch));
  }
  const auto x = random_rows(t, h, 5);
  beacon::row_matrix<float> out(t, h);
  typename A::forward_state state;
  beacon::bench::measure(st, 4.0 * double(2 * t * h + 3 * e * h * f), 6.0 * double(t) * double(h) * double(f), [&] {
    a.forward(beacon::as_view(x), beacon::as_view(x), beacon::as_view(out), state);
    benchmark::DoNotOptimize(out.data());
  });
}

// One adaptor train step (zero_grad, forward with the new batch forced to its expert, MSE loss,
// backward, AdamW) on cpu{threads}: T tokens, E SwiGLU experts of width F, only the newest trains.
// FLOP: forward 6 T h F + backward of the trained expert's weights and inputs 12 T h F.
void BM_adaptor_train_step(benchmark::State& st) {
  const size_type t = st.range(0), h = st.range(1), f = st.range(2), e = st.range(3);
  const int threads = static_cast<int>(st.range(4));
  using A = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, beacon::cpu>;
  A a(beacon::cpu{threads}, {.d_model = h, .expert_hidden = f, .router_rank = h / 4});
  const auto x = random_rows(t, h, 5);
  for (size_type i = 0; i < e; ++i) a.insert_expert(moe::expert_init<float>::random_normal(static_cast<std::uint64_t>(i)), beacon::as_view(x));
  beacon::adamw opt;
  const A::loss_function loss = [](beacon::matrix_view<const float> out, beacon::matrix_view<float> d) {
    for (size_type i = 0; i < out.rows(); ++i)
      for (size_type j = 0; j < out.cols(); ++j) d(i, j) = out(i, j) - 1.0f;
    return 0.0;
  };
  beacon::bench::measure(st, 4.0 * double(4 * t * h + 3 * e * h * f), 18.0 * double(t) * double(h) * double(f), [&] {
    a.train_step(beacon::as_view(x), beacon::as_view(x), loss, opt, static_cast<beacon::index_type>(e - 1));
  });
}

// One decode step of the serving path (issue 19): B live sequences emit one token each through an
// adaptor of E SwiGLU experts (d = 1024, F = 1408) with per-instance anchor routing (the recommended
// router). Sequence b's prompt embedding is the anchor of expert b mod E, so a step touches exactly
// min(B, E) experts, the same in bench/torch_decode.py. route_again = 0 reuses the route kept from
// the prompt (forward(x, kept, out, st)); 1 routes the prompts again at every step (forward(x, e, out,
// st)), the cost a kept route saves. Bytes: the touched experts' weights 12 d F each (decode is
// weight-bound) + x, out 8 B d; FLOP 6 B d F.
void BM_adaptor_decode_step(benchmark::State& st) {
  const size_type b = st.range(0), e = st.range(1), d = st.range(2), f = st.range(3);
  const bool route_again = st.range(4) != 0;
  const int threads = static_cast<int>(st.range(5));
  using A = moe::adaptor<float, moe::instance_anchor_router<moe::top_k<1>>, moe::swiglu_expert, beacon::cpu>;
  A a(beacon::cpu{threads}, {.d_model = d, .expert_hidden = f});
  const auto anchors = random_rows(e, d, 11);
  for (size_type i = 0; i < e; ++i)
    a.insert_expert(moe::expert_init<float>::random_normal(static_cast<std::uint64_t>(i)), beacon::as_view(anchors).row_block(i, 1));
  beacon::row_matrix<float> prompts(b, d);
  for (size_type s = 0; s < b; ++s) prompts.row(s) = anchors.row(s % e);
  const auto kept = a.route(beacon::as_view(prompts));
  const auto x = random_rows(b, d, 5);
  beacon::row_matrix<float> out(b, d);
  typename A::forward_state state;
  const size_type touched = std::min(b, e);
  const double bytes = 4.0 * (3.0 * double(touched) * double(d) * double(f) + 2.0 * double(b) * double(d));
  beacon::bench::measure(st, bytes, 6.0 * double(b) * double(d) * double(f), [&] {
    if (route_again) a.forward(beacon::as_view(x), beacon::as_view(prompts), beacon::as_view(out), state);
    else a.forward(beacon::as_view(x), kept, beacon::as_view(out), state);
    benchmark::DoNotOptimize(out.data());
  });
  size_type used = 0;  // experts with tokens in the last step: must be min(B, E), else the case measures something else
  for (std::size_t i = 0; i + 1 < state.offsets.size(); ++i) used += state.offsets[i + 1] > state.offsets[i] ? 1 : 0;
  if (used != touched) st.SkipWithError("routing did not spread the sequences over min(B, E) experts");
  st.counters["experts_touched"] = static_cast<double>(used);
  st.SetLabel(beacon::bench::residency_label(bytes));
}

// Grouped expert FFN forward (moe/grouped_expert.hpp): T tokens routed top-1 uniformly at random
// over E SwiGLU experts, already grouped by expert; one GEMM chain per expert (x W_gate^T, x W_up^T,
// SiLU(a) * b, u W_down^T). FLOP = 6 T d h; bytes (fp32) = weights 12 E d h + x and y 8 T d + the
// kept a, b, u 12 T h. The target (design.md) is >= 80 % of the Eigen sgemm rate: flop_frac.
void BM_grouped_expert_ffn(benchmark::State& st) {
  const size_type t = st.range(0), d = st.range(1), h = st.range(2), e = st.range(3);
  const beacon::cpu be;
  std::vector<beacon::index_type> offsets(static_cast<std::size_t>(e + 1), 0);
  std::mt19937 gen(7);
  std::uniform_int_distribution<size_type> pick(0, e - 1);
  for (size_type i = 0; i < t; ++i) ++offsets[static_cast<std::size_t>(pick(gen) + 1)];
  for (size_type i = 0; i < e; ++i) offsets[static_cast<std::size_t>(i + 1)] += offsets[static_cast<std::size_t>(i)];
  beacon::host_buffer<float> weights(3 * e * d * h), x(t * d), y(t * d), cache(3 * t * h);
  beacon::fill_normal(be, beacon::philox_stream{1, 0}, weights.matrix(3 * e * h, d));
  beacon::fill_normal(be, beacon::philox_stream{2, 0}, x.matrix(t, d));
  std::vector<moe::swiglu_weights<float, beacon::host_space>> w;
  for (size_type i = 0; i < e; ++i) {
    const float* base = weights.view().data() + 3 * i * d * h;
    w.push_back({beacon::host_matrix(base, h, d), beacon::host_matrix(base + d * h, h, d), beacon::host_matrix(base + 2 * d * h, d, h)});
  }
  const moe::swiglu_cache<float, beacon::host_space> kept{beacon::host_matrix(cache.view().data(), t, h),
                                                          beacon::host_matrix(cache.view().data() + t * h, t, h),
                                                          beacon::host_matrix(cache.view().data() + 2 * t * h, t, h)};
  const double bytes = 4.0 * (3.0 * double(e * d * h) + 2.0 * double(t * d) + 3.0 * double(t * h));
  beacon::bench::measure(st, bytes, 6.0 * double(t) * double(d) * double(h), [&] {
    moe::grouped_swiglu_forward(be, w, offsets, std::as_const(x).matrix(t, d), kept, y.matrix(t, d));
    benchmark::DoNotOptimize(y.view().data());
  });
  st.SetLabel(beacon::bench::residency_label(bytes));
}

// ---- the routing grid of issue 3: T in {1024, 16384, 65536}, H in {1024, 4096}, E in {8, 64, 256},
// k in {1, 2}, through the backend-generic paths (bench_core_cuda.cu times the same on the GPU).
//
// Softmax top-k gate (softmax_topk_router's inference path): logits = x W_g^T (one GEMM, 2 T H E
// FLOP), then the fused softmax_top_k. Bytes (fp32): x 4 T H, W_g 4 E H, logits written and read
// 8 T E, gates + ids 8 T k.
void BM_route_softmax_gate(benchmark::State& st) {
  const size_type t = st.range(0), h = st.range(1), e = st.range(2), k = st.range(3);
  const beacon::cpu be;
  beacon::host_buffer<float> x(t * h), w(e * h), logits(t * e), gates(t * k);
  beacon::host_buffer<beacon::index_type> ids(t * k);
  beacon::fill_normal(be, beacon::philox_stream{1, 0}, x.matrix(t, h));
  beacon::fill_normal(be, beacon::philox_stream{2, 0}, w.matrix(e, h));
  const double bytes = 4.0 * (double(t * h) + double(e * h) + 2.0 * double(t * e) + 2.0 * double(t * k));
  beacon::bench::measure(st, bytes, 2.0 * double(t) * double(h) * double(e), [&] {
    beacon::gemm(be, beacon::transpose::no, beacon::transpose::yes, 1.0f, std::as_const(x).matrix(t, h), std::as_const(w).matrix(e, h), 0.0f,
                 logits.matrix(t, e));
    beacon::softmax_top_k(be, std::as_const(logits).matrix(t, e), k, false, gates.matrix(t, k), ids.matrix(t, k));
    benchmark::DoNotOptimize(ids.view().data());
  });
  st.SetLabel(beacon::bench::residency_label(bytes));
}

// KV-anchor routing (kv_anchor_router::route, the paper-faithful shared projection with dot scores):
// z = e W_down^T (r = H/4), v = SiLU(z) W_up^T (d_k = H), scores = v K^T, softmax + softmax_top_k.
// FLOP 2 T H r + 2 T r H + 2 T H E. Bytes (fp32): e 4 T H, weights 4 (2 H r + E H), z written,
// read and SiLU(z) written and read 16 T r, v written and read 8 T H, scores and probabilities
// 16 T E, outputs 8 T k.
void BM_route_kv_anchor(benchmark::State& st) {
  const size_type t = st.range(0), h = st.range(1), e = st.range(2), k = st.range(3), r = h / 4;
  const beacon::cpu be;
  using router2 = moe::kv_anchor_router<moe::top_k<2>>;
  using router1 = moe::kv_anchor_router<moe::top_k<1>>;
  const auto x = random_rows(t, h, 4);
  auto run = [&](auto router_tag) {
    using R = decltype(router_tag);
    typename R::template state<float, beacon::cpu> s(be, h, r, h, moe::kv_router_options{.key = moe::key_init::random}, 1);
    for (size_type i = 0; i < e; ++i) s.insert(be, i, {});
    typename R::template cache<float, beacon::cpu> c;
    const double flops = 2.0 * double(t) * double(h) * double(r) * 2 + 2.0 * double(t) * double(h) * double(e);
    const double bytes = 4.0 * (double(t * h) + 2.0 * double(h * r) + double(e * h) + 4.0 * double(t * r) + 2.0 * double(t * h) +
                                4.0 * double(t * e) + 2.0 * double(t * k));
    beacon::bench::measure(st, bytes, flops, [&] {
      s.route(be, beacon::as_view(x), c, {});
      benchmark::DoNotOptimize(c.route.ids().data());
    });
    st.SetLabel(beacon::bench::residency_label(bytes));
  };
  if (k == 1) run(router1{});
  else run(router2{});
}

void routing_grid(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "H", "E", "k"});
  for (int t : {1024, 16384, 65536})
    for (int h : {1024, 4096})
      for (int e : {8, 64, 256})
        for (int k : {1, 2}) b->Args({t, h, e, k});
}

BENCHMARK(BM_adaptor_train_step)->ArgNames({"T", "H", "F", "E", "threads"})->Args({4096, 1024, 1408, 8, 1})->Args({4096, 1024, 1408, 8, 2})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_adaptor_forward)->ArgNames({"T", "H", "F", "E", "threads"})->Args({4096, 1024, 1408, 8, 1})->Args({4096, 1024, 1408, 8, 2})->Args({4096, 1024, 1408, 64, 2})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_adaptor_decode_step)->ArgNames({"B", "E", "d", "F", "route_again", "threads"})
    ->ArgsProduct({{1, 64}, {8, 64}, {1024}, {1408}, {0, 1}, {2}})->UseRealTime()->Unit(benchmark::kMicrosecond);
// h = 1408 (half of LLaMA-style 2816) keeps one iteration near a second on the 2-core build machine.
BENCHMARK(BM_route_softmax_gate)->Apply(routing_grid)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_route_kv_anchor)->Apply(routing_grid)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_grouped_expert_ffn)->ArgNames({"T", "d", "h", "E"})->Args({16384, 1024, 1408, 8})->Args({16384, 1024, 1408, 64})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
}  // namespace

BEACON_BENCH_MAIN();
