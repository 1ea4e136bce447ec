// SPDX-License-Identifier: Apache-2.0
// k-means Lloyd iteration on the CPU backend (issue 4): the assignment (one GEMM per chunk + arg-min)
// and the deterministic update (group by label, gather, segmented sums), reported as one iteration
// with 2 n k d FLOP (the FAISS convention's n k d multiply-adds). Sizes from engineering.md B.6.
// bench/sklearn_kmeans.py times scikit-learn's Lloyd on the same sizes for a side-by-side number.
#include <beacon/beacon.hpp>
#include <beacon/plan.hpp>

#include <random>
#include <vector>

#include "roofline.hpp"

namespace {
using beacon::size_type;

struct data {
  size_type n, d, k;
  std::vector<float> x;
  data(size_type n_, size_type d_, size_type k_) : n(n_), d(d_), k(k_), x(static_cast<std::size_t>(n_ * d_)) {
    std::mt19937 gen(1);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (auto& v : x) v = g(gen);
  }
};

void BM_lloyd_iteration(benchmark::State& st) {
  const data in(st.range(0), st.range(1), st.range(2));
  const beacon::cpu be;
  const auto x = beacon::host_matrix<const float>(in.x.data(), in.n, in.d);
  const size_type chunk = 65536;
  beacon::plan::detail::lloyd_state<beacon::cpu, float> s(be, in.n, in.d, in.k, std::min(chunk, in.n));
  std::copy(in.x.begin(), in.x.begin() + in.k * in.d, s.centroids.view().begin());  // first-k centres
  std::vector<double> sums;
  std::vector<beacon::index_type> counts;
  const double flops = 2.0 * double(in.n) * double(in.k) * double(in.d);
  const double bytes = 4.0 * double(2 * in.n * in.d + in.k * in.d + 2 * in.n);  // two passes over x, labels
  beacon::bench::measure(st, bytes, flops, [&] {
    beacon::row_dot(be, beacon::matrix_view<const float>(s.centroids.matrix(in.k, in.d)),
                    beacon::matrix_view<const float>(s.centroids.matrix(in.k, in.d)), s.norms.view());
    beacon::nearest_rows(be, x, beacon::matrix_view<const float>(s.centroids.matrix(in.k, in.d)),
                         beacon::vector_view<const float>(s.norms.view()), s.labels.view(), std::min(chunk, in.n));
    beacon::plan::detail::cluster_sums(be, x, s, in.k, std::min(chunk, in.n), false, sums, counts);
    benchmark::DoNotOptimize(sums.data());
  });
  st.counters["nkd_per_s"] = benchmark::Counter(double(in.n) * double(in.k) * double(in.d), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_kmeans_fit(benchmark::State& st) {
  const data in(st.range(0), st.range(1), st.range(2));
  beacon::plan::kmeans_options<float> o;
  o.clusters = in.k;
  o.init = beacon::plan::kmeans_init::first_k;
  o.max_iterations = 10;
  o.tolerance = 0;
  o.track_inertia = false;
  size_type iterations = 0;
  beacon::bench::measure(st, 0, 0, [&] {
    const auto r = beacon::plan::kmeans(beacon::cpu{}, beacon::host_matrix<const float>(in.x.data(), in.n, in.d), o);
    iterations = r.iterations;
  });
  st.counters["iterations"] = double(iterations);
}

void sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "d", "k"});
  b->Args({65536, 64, 64});
  b->Args({100000, 128, 256});
}

BENCHMARK(BM_lloyd_iteration)->Apply(sizes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_kmeans_fit)->Args({65536, 64, 64})->UseRealTime()->Unit(benchmark::kMillisecond);
}  // namespace

BEACON_BENCH_MAIN();
