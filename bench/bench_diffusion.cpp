// SPDX-License-Identifier: Apache-2.0
// InfoDiffusion kernels on the CPU backend (issue 6): per-token noising x_t = a x0 + b eps with
// in-kernel Philox (bytes = read x0 + write x_t), and rounding to the nearest embedding row
// (2 N V D FLOP through the backend GEMM + arg-min).
#include <beacon/beacon.hpp>
#include <beacon/diffusion.hpp>

#include <random>
#include <vector>

#include "roofline.hpp"

namespace {
using beacon::size_type;

void BM_noising(benchmark::State& st) {
  const size_type rows = st.range(0), dim = st.range(1);
  const beacon::cpu be;
  std::vector<float> x0(static_cast<std::size_t>(rows * dim), 0.5f), xt(x0.size());
  const auto s = beacon::diffusion::make_schedule(beacon::diffusion::schedule_kind::sqrt, 2000);
  std::vector<float> a(static_cast<std::size_t>(rows)), b(a.size());
  for (size_type r = 0; r < rows; ++r) {
    const auto k = static_cast<std::size_t>((r * 7919) % 2000);
    a[static_cast<std::size_t>(r)] = static_cast<float>(s.sqrt_alphas_cumprod[k]);
    b[static_cast<std::size_t>(r)] = static_cast<float>(s.sqrt_one_minus_alphas_cumprod[k]);
  }
  std::uint64_t offset = 0;
  beacon::bench::measure(st, 8.0 * double(rows * dim), 3.0 * double(rows * dim), [&] {
    beacon::diffusion::q_sample(be, beacon::host_vector<const float>(a.data(), rows), beacon::host_matrix<const float>(x0.data(), rows, dim),
                                beacon::host_vector<const float>(b.data(), rows), beacon::philox_stream{1, offset},
                                beacon::host_matrix(xt.data(), rows, dim));
    offset += static_cast<std::uint64_t>(rows * dim);
    benchmark::ClobberMemory();
  });
  st.counters["normals_per_s"] = benchmark::Counter(double(rows * dim), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_rounding(benchmark::State& st) {
  const size_type rows = st.range(0), dim = st.range(1), vocab = st.range(2);
  const beacon::cpu be;
  std::mt19937 gen(3);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> e(static_cast<std::size_t>(vocab * dim)), x(static_cast<std::size_t>(rows * dim)), norms(static_cast<std::size_t>(vocab));
  for (auto& v : e) v = g(gen);
  for (auto& v : x) v = g(gen);
  const auto ev = beacon::host_matrix<const float>(e.data(), vocab, dim);
  beacon::diffusion::embedding_squared_norms(be, ev, beacon::host_vector(norms.data(), vocab));
  std::vector<beacon::index_type> ids(static_cast<std::size_t>(rows));
  beacon::bench::measure(st, 4.0 * double(rows * dim + vocab * dim + rows), 2.0 * double(rows) * double(vocab) * double(dim), [&] {
    beacon::diffusion::nearest_embedding(be, beacon::host_matrix<const float>(x.data(), rows, dim), ev,
                                         beacon::host_vector<const float>(norms.data(), vocab), beacon::host_vector(ids.data(), rows));
    benchmark::DoNotOptimize(ids.data());
  });
}

void noising_sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"BL", "D"});
  b->Args({8192, 128});
  b->Args({65536, 4096});
}
void rounding_sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"BL", "D", "V"});
  b->Args({8192, 128, 30522});
  b->Args({8192, 128, 50257});
}

BENCHMARK(BM_noising)->Apply(noising_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_rounding)->Apply(rounding_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);
}  // namespace

BEACON_BENCH_MAIN();
