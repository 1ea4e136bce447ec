// LEMoE adaptor on the CPU backend (issue 3): KV-anchor routing including the projection and score
// GEMMs (2 T H d_p + 2 T d_p d_k + 2 T d_k E FLOP), and one adaptor forward (routing, dispatch and
// one SwiGLU expert GEMM chain per expert: 6 T H F FLOP with top-1).
#include <beacon/beacon.hpp>
#include <beacon/moe.hpp>

#include <random>

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

// Routing T instances over E experts: v = W_up SiLU(W_down e), scores = K v, softmax, top-1.
void BM_kv_anchor_route(benchmark::State& st) {
  const size_type t = st.range(0), h = st.range(1), e = st.range(2), rank = h / 4;
  using router = moe::kv_anchor_router<moe::top_k<1>>;
  auto s = router::make<float>(h, rank, h, {}, 1);
  const auto batch = random_rows(8, h, 2);
  for (size_type i = 0; i < e; ++i) router::insert<float>(s, i, batch, 3);
  const auto x = random_rows(t, h, 4);
  router::cache<float> c;
  const double flops = 2.0 * double(t) * double(h) * double(rank) * 2 + 2.0 * double(t) * double(h) * double(e);
  beacon::bench::measure(st, 4.0 * double(t * h + 2 * h * rank + e * h), flops, [&] {
    router::route<float>(s, x, c);
    benchmark::DoNotOptimize(c.route.ids.data());
  });
}

// One adaptor forward: T tokens (one per instance), E SwiGLU experts of width F, top-1.
void BM_adaptor_forward(benchmark::State& st) {
  const size_type t = st.range(0), h = st.range(1), f = st.range(2), e = st.range(3);
  using A = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert>;
  A a(beacon::cpu{}, {.d_model = h, .expert_hidden = f, .router_rank = h / 4});
  for (size_type i = 0; i < e; ++i) {
    const auto batch = random_rows(8, h, 10 + static_cast<unsigned>(i));
    a.insert_expert(moe::expert_init<float>::random_normal(static_cast<std::uint64_t>(i)), beacon::as_view(batch));
  }
  const auto x = random_rows(t, h, 5);
  beacon::row_matrix<float> out(t, h);
  beacon::bench::measure(st, 4.0 * double(2 * t * h + 3 * e * h * f), 6.0 * double(t) * double(h) * double(f), [&] {
    a.forward(beacon::as_view(x), beacon::as_view(x), beacon::as_view(out));
    benchmark::DoNotOptimize(out.data());
  });
}

BENCHMARK(BM_kv_anchor_route)->ArgNames({"T", "H", "E"})->Args({1024, 1024, 8})->Args({16384, 1024, 64})->Args({16384, 1024, 256})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_adaptor_forward)->ArgNames({"T", "H", "F", "E"})->Args({4096, 1024, 1408, 8})->Args({4096, 1024, 1408, 64})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
}  // namespace

BEACON_BENCH_MAIN();
