// SPDX-License-Identifier: Apache-2.0
// bench_core: the foundation primitives on beacon::cpu (default thread count) against the
// roofline probed at start-up (roofline.hpp; models from engineering.md B.5).
//
//   BM_softmax_top_k        fused router primitive, T x E fp32 logits -> (weights, ids) T x k
//   BM_softmax_then_top_k   the same result from row_softmax + row_top_k (+ renormalise), unfused
//   BM_row_softmax / BM_row_top_k   the two halves of the unfused path, for attribution
//   BM_read_logits          baseline: a parallel sum over the same logits (read-only bandwidth at
//                           this size and residency: the most a router can hope for)
//   BM_omp_fork_join        baseline: an empty OpenMP parallel region (fixed cost per parallel call)
//   BM_gemm                 beacon::gemm, float, C = A * op(B)
//
// Router cases take `cold`: 0 reuses one logits matrix (LLC-resident for every size here), 1 cycles
// through disjoint copies spanning > 3 x LLC so the logits stream from DRAM each iteration (outputs
// stay cache-resident, as they would feeding the permutation step). Logits are i.i.d. N(0, 1),
// mt19937 seed 42 (the distribution SGLang's and vLLM's router benchmarks use: torch.randn).
// Router model (B.5): bytes = 4*T*E + 12*T*k, FLOPs = 5*T*E (the spec's 12 B per (row, k) is
// weights + ids + vLLM's token_expert_indices; beacon writes 8, a <= 0.6% difference at E >= 8). The unfused path is charged the same bytes and
// FLOPs, so its roofline fraction is directly comparable (it actually moves ~3x the bytes).
// k = 1 uses renormalize = false (Switch), k = 2 renormalize = true (Mixtral).

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <beacon/beacon.hpp>

#include "roofline.hpp"

namespace {

using beacon::index_type;
using beacon::size_type;

/// One shared pool of logits, grown on demand (deterministic: element i is the same for any size).
const std::vector<float>& logit_pool(size_type min_elements) {
  static std::vector<float> pool;
  if (static_cast<size_type>(pool.size()) < min_elements) {
    std::mt19937 gen(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    pool.resize(static_cast<std::size_t>(min_elements));
    for (float& x : pool) x = normal(gen);
  }
  return pool;
}

struct router_case {
  size_type t, e, k;
  bool cold;
  size_type copies;  // logits matrices cycled through
  const float* base;

  explicit router_case(const benchmark::State& st)
      : t(st.range(0)), e(st.range(1)), k(st.range(2)), cold(st.range(3) != 0) {
    const double logit_bytes = 4.0 * static_cast<double>(t * e);
    copies = cold ? beacon::bench::copies_beyond_llc(logit_bytes) : 1;
    base = logit_pool(copies * t * e).data();
  }
  [[nodiscard]] beacon::matrix_view<const float> logits(size_type copy) const {
    return beacon::host_matrix(base + copy * t * e, t, e);
  }
  [[nodiscard]] double bytes() const { return 4.0 * static_cast<double>(t * e) + 12.0 * static_cast<double>(t * k); }
  [[nodiscard]] double flops() const { return 5.0 * static_cast<double>(t * e); }
  [[nodiscard]] std::string label() const {
    if (cold) return "cold: DRAM, " + std::to_string(copies) + " logits copies";
    return "warm: " + beacon::bench::residency_label(4.0 * static_cast<double>(t * e) + 8.0 * static_cast<double>(t * k));
  }
};

void renormalize_rows(beacon::matrix_view<float> w) {
  for (size_type i = 0; i < w.rows(); ++i) {
    float s = 0;
    for (size_type p = 0; p < w.cols(); ++p) s += w(i, p);
    for (size_type p = 0; p < w.cols(); ++p) w(i, p) /= s;
  }
}

void BM_softmax_top_k(benchmark::State& st) {
  const router_case rc(st);
  const beacon::cpu be;
  std::vector<float> w(static_cast<std::size_t>(rc.t * rc.k));
  std::vector<index_type> ids(w.size());
  const auto wv = beacon::host_matrix(w.data(), rc.t, rc.k);
  const auto iv = beacon::host_matrix(ids.data(), rc.t, rc.k);
  const bool renorm = rc.k > 1;
  size_type copy = 0;
  beacon::bench::measure(st, rc.bytes(), rc.flops(), [&] {
    beacon::softmax_top_k(be, rc.logits(copy), rc.k, renorm, wv, iv);
    benchmark::ClobberMemory();
    if (++copy == rc.copies) copy = 0;
  });
  st.SetLabel(rc.label());
}

void BM_softmax_then_top_k(benchmark::State& st) {
  const router_case rc(st);
  const beacon::cpu be;
  std::vector<float> probs(static_cast<std::size_t>(rc.t * rc.e));
  std::vector<float> w(static_cast<std::size_t>(rc.t * rc.k));
  std::vector<index_type> ids(w.size());
  const auto pv = beacon::host_matrix(probs.data(), rc.t, rc.e);
  const auto wv = beacon::host_matrix(w.data(), rc.t, rc.k);
  const auto iv = beacon::host_matrix(ids.data(), rc.t, rc.k);
  const bool renorm = rc.k > 1;

  {  // Same ids as the fused primitive, weights within float rounding, or the comparison is void.
    std::vector<float> w2(w.size());
    std::vector<index_type> ids2(w.size());
    beacon::softmax_top_k(be, rc.logits(0), rc.k, renorm, beacon::host_matrix(w2.data(), rc.t, rc.k),
                          beacon::host_matrix(ids2.data(), rc.t, rc.k));
    beacon::row_softmax(be, rc.logits(0), pv);
    beacon::row_top_k(be, beacon::matrix_view<const float>(pv), rc.k, wv, iv);
    if (renorm) renormalize_rows(wv);
    for (std::size_t i = 0; i < w.size(); ++i)
      if (ids[i] != ids2[i] || std::abs(w[i] - w2[i]) > 1e-5f * (1.0f + std::abs(w2[i]))) {
        st.SkipWithError("unfused softmax + top-k disagrees with softmax_top_k");
        return;
      }
  }

  size_type copy = 0;
  beacon::bench::measure(st, rc.bytes(), rc.flops(), [&] {
    beacon::row_softmax(be, rc.logits(copy), pv);
    beacon::row_top_k(be, beacon::matrix_view<const float>(pv), rc.k, wv, iv);
    if (renorm) renormalize_rows(wv);
    benchmark::ClobberMemory();
    if (++copy == rc.copies) copy = 0;
  });
  st.SetLabel(rc.label());
}

// The halves of the unfused path. Bytes: softmax reads and writes T x E; top-k reads T x E and
// writes 8 B per (row, k). FLOPs: softmax ~5 T E (as the router), top-k ~1 compare per element.
void BM_row_softmax(benchmark::State& st) {
  const router_case rc(st);
  const beacon::cpu be;
  std::vector<float> probs(static_cast<std::size_t>(rc.t * rc.e));
  const auto pv = beacon::host_matrix(probs.data(), rc.t, rc.e);
  size_type copy = 0;
  beacon::bench::measure(st, 8.0 * static_cast<double>(rc.t * rc.e), rc.flops(), [&] {
    beacon::row_softmax(be, rc.logits(copy), pv);
    benchmark::ClobberMemory();
    if (++copy == rc.copies) copy = 0;
  });
  st.SetLabel(rc.label());
}

void BM_row_top_k(benchmark::State& st) {
  const router_case rc(st);
  const beacon::cpu be;
  std::vector<float> w(static_cast<std::size_t>(rc.t * rc.k));
  std::vector<index_type> ids(w.size());
  const auto wv = beacon::host_matrix(w.data(), rc.t, rc.k);
  const auto iv = beacon::host_matrix(ids.data(), rc.t, rc.k);
  size_type copy = 0;
  beacon::bench::measure(st, 4.0 * static_cast<double>(rc.t * rc.e) + 8.0 * static_cast<double>(rc.t * rc.k),
                         static_cast<double>(rc.t * rc.e), [&] {
                           beacon::row_top_k(be, rc.logits(copy), rc.k, wv, iv);
                           benchmark::ClobberMemory();
                           if (++copy == rc.copies) copy = 0;
                         });
  st.SetLabel(rc.label());
}

// Read-bandwidth baseline over the same logits, same thread rule as the primitives (threads_for).
void BM_read_logits(benchmark::State& st) {
  const router_case rc(st);
  const beacon::cpu be;
  size_type copy = 0;
  beacon::bench::measure(st, 4.0 * static_cast<double>(rc.t * rc.e), 0.0, [&] {
    const auto x = rc.logits(copy);
    float total = 0;
#pragma omp parallel for num_threads(be.threads_for(x.size())) schedule(static) reduction(+ : total)
    for (size_type i = 0; i < x.rows(); i += 64) {
      const size_type rows = std::min<size_type>(64, x.rows() - i);
      total += Eigen::Map<const Eigen::ArrayXf>(x.row(i), rows * x.cols()).sum();
    }
    benchmark::DoNotOptimize(total);
    if (++copy == rc.copies) copy = 0;
  });
  st.SetLabel(rc.label());
}

void BM_omp_fork_join(benchmark::State& st) {
  const beacon::cpu be;
  int sink = 0;
  for (auto _ : st) {
#pragma omp parallel num_threads(be.threads())
    { benchmark::DoNotOptimize(sink); }
  }
  st.SetLabel(std::to_string(be.threads()) + " threads");
}

// C[M, N] = A[M, K] * op(B); B is K x N, or N x K with tb (nn.Linear's weight layout).
void BM_gemm(benchmark::State& st) {
  const size_type m = st.range(0), n = st.range(1), k = st.range(2);
  const bool tb = st.range(3) != 0;
  const beacon::cpu be;
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n)),
      c(static_cast<std::size_t>(m * n));
  for (float& x : a) x = u(gen);
  for (float& x : b) x = u(gen);
  const auto av = beacon::host_matrix<const float>(a.data(), m, k);
  const auto bv = tb ? beacon::host_matrix<const float>(b.data(), n, k) : beacon::host_matrix<const float>(b.data(), k, n);
  const auto cv = beacon::host_matrix(c.data(), m, n);
  const auto op = tb ? beacon::transpose::yes : beacon::transpose::no;
  const double bytes = 4.0 * static_cast<double>(m * k + k * n + m * n);
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  beacon::bench::measure(st, bytes, flops, [&] {
    beacon::gemm(be, beacon::transpose::no, op, 1.0f, av, bv, 0.0f, cv);
    benchmark::ClobberMemory();
  });
  st.SetLabel(beacon::bench::residency_label(bytes));
}

// ---- registration -------------------------------------------------------------------------------

void router_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "E", "k", "cold"});
  for (int cold : {0, 1})
    for (int t : {1024, 16384})
      for (int e : {8, 64, 256})
        for (int k : {1, 2}) b->Args({t, e, k, cold});
}

// Unfused comparison and its halves: a subset (k = 2, E in {64, 256}).
void unfused_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "E", "k", "cold"});
  for (int cold : {0, 1})
    for (int t : {1024, 16384})
      for (int e : {64, 256}) b->Args({t, e, 2, cold});
}

void baseline_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "E", "k", "cold"});
  for (int cold : {0, 1})
    for (int t : {1024, 16384})
      for (int e : {8, 64, 256}) b->Args({t, e, 0, cold});
}

BENCHMARK(BM_softmax_top_k)->Apply(router_args)->UseRealTime();
BENCHMARK(BM_softmax_then_top_k)->Apply(unfused_args)->UseRealTime();
BENCHMARK(BM_row_softmax)->Apply(unfused_args)->UseRealTime();
BENCHMARK(BM_row_top_k)->Apply(unfused_args)->UseRealTime();
BENCHMARK(BM_read_logits)->Apply(baseline_args)->UseRealTime();
BENCHMARK(BM_omp_fork_join)->UseRealTime();
BENCHMARK(BM_gemm)
    ->ArgNames({"M", "N", "K", "tb"})
    ->Args({512, 512, 512, 0})
    ->Args({2048, 2048, 2048, 0})
    ->Args({16384, 64, 1024, 0})  // router gate: X[T=16384, H=1024] * W[H, E=64]
    ->Args({16384, 64, 1024, 1})  // same with W stored [E, H] (nn.Linear layout)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BEACON_BENCH_MAIN();
