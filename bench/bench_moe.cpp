// LEMoE adaptor on the CPU backend (issue 3): KV-anchor routing including the projection and score
// GEMMs (2 T H d_p + 2 T d_p d_k + 2 T d_k E FLOP), and one adaptor forward (routing, dispatch and
// one SwiGLU expert GEMM chain per expert: 6 T H F FLOP with top-1), and the backend-generic grouped
// expert FFN forward (moe/ops) that bench_core_cuda.cu also times on the GPU.
#include <beacon/beacon.hpp>
#include <beacon/moe.hpp>

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

// Grouped expert FFN forward (moe/ops/grouped_expert.hpp): T tokens routed top-1 uniformly at random
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

BENCHMARK(BM_kv_anchor_route)->ArgNames({"T", "H", "E"})->Args({1024, 1024, 8})->Args({16384, 1024, 64})->Args({16384, 1024, 256})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_adaptor_forward)->ArgNames({"T", "H", "F", "E"})->Args({4096, 1024, 1408, 8})->Args({4096, 1024, 1408, 64})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
// h = 1408 (half of LLaMA-style 2816) keeps one iteration near a second on the 2-core build machine.
BENCHMARK(BM_grouped_expert_ffn)->ArgNames({"T", "d", "h", "E"})->Args({16384, 1024, 1408, 8})->Args({16384, 1024, 1408, 64})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
}  // namespace

BEACON_BENCH_MAIN();
