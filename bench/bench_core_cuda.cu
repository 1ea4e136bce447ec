// SPDX-License-Identifier: Apache-2.0
// bench_core_cuda: the foundation primitives on beacon::cuda, timed with CUDA events (GPU time of
// the queued work, launch gaps excluded) against a roofline probed on the GPU at start-up:
//   bandwidth: device-to-device cudaMemcpyAsync of 1 GiB (2 bytes moved per byte copied), best of 10;
//   compute:   cuBLAS sgemm 8192^3 (fp32, default math mode: no TF32), best of 5.
// Counters as in roofline.hpp (bytes_per_second, flops, bw_frac, flop_frac, roofline), taken
// against those GPU peaks. Working sets below the L2 size are labelled "L2-resident".
//
//   BM_cuda_softmax_top_k   fused router primitive, T x E fp32 logits -> (weights, ids) T x k
//                           (E > 512 takes the streaming kernel)
//   BM_cuda_row_softmax     row softmax, T x E
//   BM_cuda_gemm            beacon::gemm (cuBLAS), n x n x n float
//   BM_cuda_row_axpby_noise per-token noising with Philox normals, rows x cols
//   BM_cuda_fill_normal     Philox standard normals, n floats
//   BM_cuda_sum             deterministic blocked pairwise sum, n floats
//   BM_cuda_gather_rows     expert dispatch permutation, rows x cols
//   BM_cuda_segment_sum_rows  per-expert reduction of rows x cols into 256 segments
//   BM_cuda_copy            baseline: device-to-device copy of the same bytes as a gather
//   BM_cuda_lloyd_iteration one k-means Lloyd iteration (issue 4 sizes)
//   BM_cuda_q_sample        per-token diffusion noising with Philox (issue 6 sizes)
//   BM_cuda_rounding        nearest-embedding rounding, cuBLAS GEMM + arg-min (issue 6 sizes)
//   BM_cuda_grouped_expert_ffn  LEMoE SwiGLU experts over expert-grouped tokens, one cuBLAS GEMM per layer and expert
//   BM_cuda_route_softmax_gate / BM_cuda_route_kv_anchor  LEMoE routing grid incl. GEMMs (as bench_moe.cpp)
// Router model (B.5): bytes = 4*T*E + 12*T*k, FLOPs = 5*T*E (as bench_core.cpp, so fractions compare).
// Without a visible GPU the binary says so and exits 0 (benchmarks are not tests).
//
// Build (nvcc; bench/CMakeLists.txt's beacon_add_bench passes host-only flags): link beacon::cuda and
// benchmark::benchmark, add -Xcompiler=-fopenmp where OpenMP is used, CUDA_ARCHITECTURES 90.

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <beacon/backend/cuda.cuh>
#include <beacon/beacon.hpp>
#include <beacon/diffusion/noising.hpp>
#include <beacon/diffusion/rounding.hpp>
#include <beacon/moe.hpp>
#include <beacon/plan.hpp>
#include <beacon/semantic/reweighted_loss.cuh>

#include "roofline.hpp"

namespace {

using beacon::index_type;
using beacon::size_type;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    std::fprintf(stderr, "bench_core_cuda: %s failed: %s\n", what, cudaGetErrorString(status));
    std::exit(1);
  }
}

// Never destroyed: its cuBLAS handle and scratch must not outlive the CUDA runtime at exit.
const beacon::cuda& backend() {
  static const auto* be = new beacon::cuda();
  return *be;
}

std::size_t l2_bytes() {
  int device = 0, bytes = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&bytes, cudaDevAttrL2CacheSize, device), "cudaDeviceGetAttribute");
  return static_cast<std::size_t>(bytes);
}

std::string residency(double working_set_bytes) {
  const double mib = working_set_bytes / (1 << 20);
  char text[64];
  std::snprintf(text, sizeof text, working_set_bytes <= static_cast<double>(l2_bytes()) ? "L2-resident (%.2f MiB)" : "HBM (%.1f MiB)", mib);
  return text;
}

/// Times `body` with CUDA events around each iteration (after one warm-up call) and sets the
/// roofline counters. Register the case with ->UseManualTime().
template <class Body>
void measure_gpu(benchmark::State& st, double bytes, double flops, Body&& body) {
  const beacon::cuda& be = backend();
  body();  // first launch, scratch growth
  be.synchronize();
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  double total = 0;
  for (auto _ : st) {
    check(cudaEventRecord(start, be.stream()), "cudaEventRecord");
    body();
    check(cudaEventRecord(stop, be.stream()), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    st.SetIterationTime(ms / 1e3);
    total += ms / 1e3;
  }
  check(cudaEventDestroy(start), "cudaEventDestroy");
  check(cudaEventDestroy(stop), "cudaEventDestroy");
  beacon::bench::set_roofline(st, total, bytes, flops);
}

/// Device buffer of i.i.d. N(0, 1) floats (mt19937 seed 42, as bench_core.cpp).
beacon::device_buffer<float> normal_buffer(size_type n, unsigned seed = 42) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> host(static_cast<std::size_t>(n));
  for (float& x : host) x = normal(gen);
  return beacon::device_buffer<float>(host);
}

void BM_cuda_softmax_top_k(benchmark::State& st) {
  const size_type t = st.range(0), e = st.range(1), k = st.range(2);
  const auto logits = normal_buffer(t * e);
  beacon::device_buffer<float> weights(t * k);
  beacon::device_buffer<index_type> ids(t * k);
  const auto in = beacon::device_matrix<const float>(logits.data(), t, e);
  const bool renormalize = k > 1;
  measure_gpu(st, 4.0 * double(t * e) + 12.0 * double(t * k), 5.0 * double(t * e),
              [&] { beacon::softmax_top_k(backend(), in, k, renormalize, weights.matrix(t, k), ids.matrix(t, k)); });
  st.SetLabel(residency(4.0 * double(t * e) + 8.0 * double(t * k)));
}
BENCHMARK(BM_cuda_softmax_top_k)
    ->ArgNames({"T", "E", "k"})
    ->Args({1024, 256, 8})
    ->Args({16384, 128, 8})
    ->Args({65536, 8, 1})
    ->Args({65536, 64, 2})
    ->Args({65536, 256, 2})
    ->Args({65536, 256, 8})
    ->Args({65536, 1024, 8})
    ->UseManualTime();

void BM_cuda_row_softmax(benchmark::State& st) {
  const size_type t = st.range(0), e = st.range(1);
  const auto logits = normal_buffer(t * e);
  beacon::device_buffer<float> out(t * e);
  const auto in = beacon::device_matrix<const float>(logits.data(), t, e);
  measure_gpu(st, 8.0 * double(t * e), 5.0 * double(t * e), [&] { beacon::row_softmax(backend(), in, out.matrix(t, e)); });
  st.SetLabel(residency(8.0 * double(t * e)));
}
BENCHMARK(BM_cuda_row_softmax)->ArgNames({"T", "E"})->Args({65536, 256})->Args({4096, 32000})->UseManualTime();

void BM_cuda_gemm(benchmark::State& st) {
  const size_type n = st.range(0);
  const auto a = normal_buffer(n * n, 1), b = normal_buffer(n * n, 2);
  beacon::device_buffer<float> c(n * n);
  measure_gpu(st, 12.0 * double(n * n), 2.0 * double(n) * double(n) * double(n), [&] {
    beacon::gemm(backend(), beacon::transpose::no, beacon::transpose::no, 1.0f, a.matrix(n, n), b.matrix(n, n), 0.0f, c.matrix(n, n));
  });
}
BENCHMARK(BM_cuda_gemm)->ArgNames({"n"})->Arg(1024)->Arg(4096)->Arg(8192)->UseManualTime();

void BM_cuda_row_axpby_noise(benchmark::State& st) {
  const size_type rows = st.range(0), cols = st.range(1);
  const auto x = normal_buffer(rows * cols);
  const auto a = normal_buffer(rows, 3), b = normal_buffer(rows, 4);
  beacon::device_buffer<float> out(rows * cols);
  std::uint64_t offset = 0;
  measure_gpu(st, 8.0 * double(rows * cols) + 8.0 * double(rows), 0.0, [&] {
    beacon::row_axpby_noise(backend(), a.view(), x.matrix(rows, cols), b.view(), beacon::philox_stream{7, offset}, out.matrix(rows, cols));
    offset += static_cast<std::uint64_t>(rows * cols);
  });
  st.SetLabel(residency(8.0 * double(rows * cols)));
}
BENCHMARK(BM_cuda_row_axpby_noise)->ArgNames({"rows", "cols"})->Args({65536, 1024})->Args({4096, 128})->UseManualTime();

void BM_cuda_fill_normal(benchmark::State& st) {
  const size_type n = st.range(0);
  beacon::device_buffer<float> out(n);
  measure_gpu(st, 4.0 * double(n), 0.0, [&] { beacon::fill_normal(backend(), beacon::philox_stream{11, 0}, out.matrix(1, n)); });
}
BENCHMARK(BM_cuda_fill_normal)->ArgNames({"n"})->Arg(1 << 26)->UseManualTime();

void BM_cuda_sum(benchmark::State& st) {
  const size_type n = st.range(0);
  const auto x = normal_buffer(n);
  beacon::device_buffer<float> out(1);
  measure_gpu(st, 4.0 * double(n), double(n), [&] { beacon::sum(backend(), x.view(), out.view()); });
  st.SetLabel(residency(4.0 * double(n)));
}
BENCHMARK(BM_cuda_sum)->ArgNames({"n"})->Arg(1 << 20)->Arg(1 << 28)->UseManualTime();

void BM_cuda_gather_rows(benchmark::State& st) {
  const size_type rows = st.range(0), cols = st.range(1);
  const auto src = normal_buffer(rows * cols);
  std::vector<index_type> perm(static_cast<std::size_t>(rows));
  for (size_type i = 0; i < rows; ++i) perm[static_cast<std::size_t>(i)] = static_cast<index_type>(i);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(5));
  const beacon::device_buffer<index_type> index(perm);
  beacon::device_buffer<float> dst(rows * cols);
  measure_gpu(st, 8.0 * double(rows * cols) + 4.0 * double(rows), 0.0,
              [&] { beacon::gather_rows(backend(), src.matrix(rows, cols), index.view(), dst.matrix(rows, cols)); });
  st.SetLabel(residency(8.0 * double(rows * cols)));
}
BENCHMARK(BM_cuda_gather_rows)->ArgNames({"rows", "cols"})->Args({65536, 1024})->UseManualTime();

void BM_cuda_segment_sum_rows(benchmark::State& st) {
  const size_type rows = st.range(0), cols = st.range(1), segments = 256;
  const auto src = normal_buffer(rows * cols);
  std::vector<index_type> offsets(static_cast<std::size_t>(segments + 1));
  for (size_type s = 0; s <= segments; ++s) offsets[static_cast<std::size_t>(s)] = static_cast<index_type>(s * rows / segments);
  const beacon::device_buffer<index_type> doffsets(offsets);
  beacon::device_buffer<float> dst(segments * cols);
  measure_gpu(st, 4.0 * double(rows * cols) + 4.0 * double(segments * cols), double(rows * cols),
              [&] { beacon::segment_sum_rows(backend(), src.matrix(rows, cols), doffsets.view(), dst.matrix(segments, cols)); });
}
BENCHMARK(BM_cuda_segment_sum_rows)->ArgNames({"rows", "cols"})->Args({65536, 1024})->UseManualTime();

void BM_cuda_copy(benchmark::State& st) {
  const size_type n = st.range(0);
  const auto src = normal_buffer(n);
  beacon::device_buffer<float> dst(n);
  measure_gpu(st, 8.0 * double(n), 0.0, [&] { beacon::copy(backend(), src.view(), dst.view()); });
}
BENCHMARK(BM_cuda_copy)->ArgNames({"n"})->Arg(65536 * 1024)->UseManualTime();

/// GPU peaks for roofline.hpp's counters: D2D copy bandwidth and cuBLAS sgemm rate.
// ---- module kernels written once over the backend (issues 4 and 6) -----------------------------

// One k-means Lloyd iteration on the GPU: norms, GEMM assignment + arg-min (nearest_rows), then the
// label-grouped update (CUB sort, gather, segmented sums) with its small host round trips. Event
// time includes those round trips. FLOP = 2 n k d (the FAISS n k d multiply-adds).
void BM_cuda_lloyd_iteration(benchmark::State& st) {
  const size_type n = st.range(0), d = st.range(1), k = st.range(2), chunk = 65536;
  const beacon::cuda& be = backend();
  auto x = normal_buffer(n * d);
  const auto xv = beacon::device_matrix<const float>(x.data(), n, d);
  beacon::plan::detail::lloyd_state<beacon::cuda, float> s(be, n, d, k, std::min(chunk, n));
  beacon::copy(be, beacon::device_vector<const float>(x.data(), k * d), s.centroids.view());
  std::vector<double> sums;
  std::vector<index_type> counts;
  measure_gpu(st, 4.0 * double(2 * n * d + k * d + 2 * n), 2.0 * double(n) * double(k) * double(d), [&] {
    const auto c = beacon::matrix_view<const float, beacon::device_space>(s.centroids.matrix(k, d));
    beacon::row_dot(be, c, c, s.norms.view());
    beacon::nearest_rows(be, xv, c, beacon::vector_view<const float, beacon::device_space>(s.norms.view()), s.labels.view(),
                         std::min(chunk, n));
    beacon::plan::detail::cluster_sums(be, xv, s, k, std::min(chunk, n), false, sums, counts);
  });
  st.counters["nkd_per_s"] = benchmark::Counter(double(n) * double(k) * double(d), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_cuda_lloyd_iteration)->ArgNames({"n", "d", "k"})->Args({65536, 128, 256})->Args({1048576, 256, 1024})->UseManualTime();

// Per-token diffusion noising x_t = sqrt(ab) x0 + sqrt(1 - ab) eps with in-kernel Philox:
// bytes = read x0 + write x_t (the design target is >= 80 % of HBM bandwidth).
void BM_cuda_q_sample(benchmark::State& st) {
  const size_type rows = st.range(0), cols = st.range(1);
  const beacon::cuda& be = backend();
  auto x0 = normal_buffer(rows * cols), xt = beacon::device_buffer<float>(rows * cols);
  std::vector<float> a(static_cast<std::size_t>(rows), 0.8f), b(static_cast<std::size_t>(rows), 0.6f);
  auto da = beacon::device_buffer<float>(a), db = beacon::device_buffer<float>(b);
  std::uint64_t offset = 0;
  measure_gpu(st, 8.0 * double(rows * cols), 3.0 * double(rows * cols), [&] {
    beacon::diffusion::q_sample(be, beacon::device_vector<const float>(da.data(), rows), beacon::device_matrix<const float>(x0.data(), rows, cols),
                                beacon::device_vector<const float>(db.data(), rows), beacon::philox_stream{1, offset},
                                beacon::device_matrix<float>(xt.data(), rows, cols));
    offset += static_cast<std::uint64_t>(rows * cols);
  });
  st.SetLabel(residency(8.0 * double(rows * cols)));
}
BENCHMARK(BM_cuda_q_sample)->ArgNames({"BL", "D"})->Args({8192, 128})->Args({65536, 4096})->UseManualTime();

// Rounding to the nearest embedding row: 2 N V D FLOP through cuBLAS + a row arg-min.
void BM_cuda_rounding(benchmark::State& st) {
  const size_type rows = st.range(0), dim = st.range(1), vocab = st.range(2);
  const beacon::cuda& be = backend();
  auto e = normal_buffer(vocab * dim, 3), x = normal_buffer(rows * dim, 4);
  beacon::device_buffer<float> norms(vocab);
  beacon::device_buffer<index_type> ids(rows);
  const auto ev = beacon::device_matrix<const float>(e.data(), vocab, dim);
  beacon::diffusion::embedding_squared_norms(be, ev, beacon::device_vector<float>(norms.data(), vocab));
  measure_gpu(st, 4.0 * double(rows * dim + vocab * dim + rows), 2.0 * double(rows) * double(vocab) * double(dim), [&] {
    beacon::diffusion::nearest_embedding(be, beacon::device_matrix<const float>(x.data(), rows, dim), ev,
                                         beacon::device_vector<const float>(norms.data(), vocab), beacon::device_vector<index_type>(ids.data(), rows));
  });
}
BENCHMARK(BM_cuda_rounding)->ArgNames({"BL", "D", "V"})->Args({8192, 128, 30522})->Args({8192, 128, 50257})->Args({65536, 4096, 50257})->UseManualTime();

// ---- semantic re-weighted cross-entropy, forward + backward (issue 5) ----------------------------
// semantic_cross_entropy on (B*L) x V float logits with L = 8 answer tokens per item (no prompt rows),
// D = 1024, default options (linear weights, self-normalised, EXPECTED output vectors, per item) and
// the gradient written; additive = 1 adds lambda = 0.5 and its G E^T GEMM. Event time includes the
// one host round trip (per-row CE and distances down, per-row scales up).
//   bytes   the unavoidable traffic: read the logits, write the gradient, read E (8 B L V + 4 V D;
//           + 4 V D for the additive GEMM's second read of E)
//   FLOPs   the pooled expected-embedding GEMM 2 B V D (+ 2 B V D for E g) and ~10 per logit for the
//           softmax, CE and gradient passes
//   model_bytes  what this implementation moves: row kernel 12 B L V (two reads, one write), mean
//           probabilities 4 B L V + 4 B V, the GEMM 4 B V + 4 V D, the gradient pass 8 B L V (+ additive:
//           4 B V for E g, 4 B L V to read it per row, 4 V D)
void BM_cuda_semantic_cross_entropy(benchmark::State& st) {
  namespace sem = beacon::semantic;
  const size_type rows = st.range(0), vocab = st.range(1), dim = 1024, length = 8, items = rows / length;
  const bool additive = st.range(2) != 0;
  const beacon::cuda& be = backend();
  beacon::device_buffer<float> logits(rows * vocab), embedding(vocab * dim), grad(rows * vocab);
  beacon::fill_normal(be, beacon::philox_stream{21, 0}, logits.matrix(rows, vocab));
  beacon::fill_normal(be, beacon::philox_stream{22, 0}, embedding.matrix(vocab, dim));
  std::mt19937 gen(5);
  std::uniform_int_distribution<index_type> token(0, static_cast<index_type>(vocab - 1));
  std::vector<index_type> host_targets(static_cast<std::size_t>(rows));
  for (auto& y : host_targets) y = token(gen);
  const beacon::device_buffer<index_type> targets(host_targets);
  const beacon::device_buffer<std::uint8_t> mask(std::vector<std::uint8_t>(static_cast<std::size_t>(rows), 1));
  const sem::reweight_options options{.additive_lambda = additive ? 0.5 : 0.0};
  const double bl = double(rows), v = double(vocab), d = double(dim), b = double(items);
  const double bytes = 8.0 * bl * v + 4.0 * v * d * (additive ? 2.0 : 1.0);
  const double flops = 2.0 * b * v * d * (additive ? 2.0 : 1.0) + 10.0 * bl * v;
  double loss = 0;
  measure_gpu(st, bytes, flops, [&] {
    loss = sem::semantic_cross_entropy(be, logits.matrix(rows, vocab), targets.view(), mask.matrix(items, length),
                                       embedding.matrix(vocab, dim), options, grad.matrix(rows, vocab))
               .combined.loss;
  });
  const double model = 24.0 * bl * v + 8.0 * b * v + 4.0 * v * d + (additive ? 4.0 * b * v + 4.0 * bl * v + 4.0 * v * d : 0.0);
  st.counters["model_bytes"] = model;
  st.counters["loss"] = loss;
  st.SetLabel(residency(8.0 * bl * v));
}
BENCHMARK(BM_cuda_semantic_cross_entropy)
    ->ArgNames({"BL", "V", "additive"})
    ->Args({4096, 32000, 0})
    ->Args({16384, 50257, 0})
    ->Args({4096, 32000, 1})
    ->Args({16384, 50257, 1})
    ->UseManualTime();

// ---- LEMoE grouped expert FFN (issue 3) ------------------------------------------------------------
// T tokens routed top-1 uniformly at random over E SwiGLU experts, already grouped by expert: one
// cuBLAS GEMM per layer and expert plus the fused SiLU * up kernel (moe::grouped_swiglu_forward).
// FLOP = 6 T d h; bytes (fp32) = weights 12 E d h + x and y 8 T d + the kept a, b, u 12 T h.
// Target (design.md): >= 60 % of cuBLAS dense GEMM at the same FLOPs, i.e. flop_frac >= 0.6.
void BM_cuda_grouped_expert_ffn(benchmark::State& st) {
  const size_type t = st.range(0), d = st.range(1), h = st.range(2), e = st.range(3);
  const beacon::cuda& be = backend();
  std::vector<index_type> offsets(static_cast<std::size_t>(e + 1), 0);
  std::mt19937 gen(7);
  std::uniform_int_distribution<size_type> pick(0, e - 1);
  for (size_type i = 0; i < t; ++i) ++offsets[static_cast<std::size_t>(pick(gen) + 1)];
  for (size_type i = 0; i < e; ++i) offsets[static_cast<std::size_t>(i + 1)] += offsets[static_cast<std::size_t>(i)];
  beacon::device_buffer<float> weights(3 * e * d * h), x(t * d), y(t * d), cache(3 * t * h);
  beacon::fill_normal(be, beacon::philox_stream{1, 0}, weights.matrix(3 * e * h, d));
  beacon::fill_normal(be, beacon::philox_stream{2, 0}, x.matrix(t, d));
  std::vector<beacon::moe::swiglu_weights<float, beacon::device_space>> w;
  for (size_type i = 0; i < e; ++i) {
    const float* base = weights.data() + 3 * i * d * h;
    w.push_back({beacon::device_matrix(base, h, d), beacon::device_matrix(base + d * h, h, d), beacon::device_matrix(base + 2 * d * h, d, h)});
  }
  const beacon::moe::swiglu_cache<float, beacon::device_space> kept{beacon::device_matrix(cache.data(), t, h),
                                                                    beacon::device_matrix(cache.data() + t * h, t, h),
                                                                    beacon::device_matrix(cache.data() + 2 * t * h, t, h)};
  const auto xv = beacon::device_matrix<const float>(x.data(), t, d);
  const double bytes = 4.0 * (3.0 * double(e * d * h) + 2.0 * double(t * d) + 3.0 * double(t * h));
  measure_gpu(st, bytes, 6.0 * double(t) * double(d) * double(h),
              [&] { beacon::moe::grouped_swiglu_forward(be, w, offsets, xv, kept, y.matrix(t, d)); });
  st.SetLabel(residency(bytes));
}
BENCHMARK(BM_cuda_grouped_expert_ffn)->ArgNames({"T", "d", "h", "E"})->Args({16384, 1024, 2816, 8})->Args({16384, 1024, 2816, 64})->UseManualTime();

// ---- LEMoE routing grid (issue 3): the same cases and byte/FLOP models as bench_moe.cpp's
// BM_route_softmax_gate and BM_route_kv_anchor, through the same backend-generic code (cuBLAS GEMMs,
// the fused softmax top-k). T in {1024, 16384, 65536}, H in {1024, 4096}, E in {8, 64, 256}, k in {1, 2}.
void BM_cuda_route_softmax_gate(benchmark::State& st) {
  const size_type t = st.range(0), h = st.range(1), e = st.range(2), k = st.range(3);
  const beacon::cuda& be = backend();
  beacon::device_buffer<float> x(t * h), w(e * h), logits(t * e), gates(t * k);
  beacon::device_buffer<index_type> ids(t * k);
  beacon::fill_normal(be, beacon::philox_stream{1, 0}, x.matrix(t, h));
  beacon::fill_normal(be, beacon::philox_stream{2, 0}, w.matrix(e, h));
  const auto xv = beacon::device_matrix<const float>(x.data(), t, h);
  const auto wv = beacon::device_matrix<const float>(w.data(), e, h);
  const auto lv = beacon::device_matrix<const float>(logits.data(), t, e);
  const double bytes = 4.0 * (double(t * h) + double(e * h) + 2.0 * double(t * e) + 2.0 * double(t * k));
  measure_gpu(st, bytes, 2.0 * double(t) * double(h) * double(e), [&] {
    beacon::gemm(be, beacon::transpose::no, beacon::transpose::yes, 1.0f, xv, wv, 0.0f, logits.matrix(t, e));
    beacon::softmax_top_k(be, lv, k, false, gates.matrix(t, k), ids.matrix(t, k));
  });
  st.SetLabel(residency(bytes));
}

void BM_cuda_route_kv_anchor(benchmark::State& st) {
  const size_type t = st.range(0), h = st.range(1), e = st.range(2), k = st.range(3), r = h / 4;
  const beacon::cuda& be = backend();
  beacon::device_buffer<float> x(t * h);
  beacon::fill_normal(be, beacon::philox_stream{1, 0}, x.matrix(t, h));
  const auto xv = beacon::device_matrix<const float>(x.data(), t, h);
  const double flops = 2.0 * double(t) * double(h) * double(r) * 2 + 2.0 * double(t) * double(h) * double(e);
  const double bytes = 4.0 * (double(t * h) + 2.0 * double(h * r) + double(e * h) + 4.0 * double(t * r) + 2.0 * double(t * h) +
                              4.0 * double(t * e) + 2.0 * double(t * k));
  auto run = [&](auto router_tag) {
    using R = decltype(router_tag);
    typename R::template state<float, beacon::cuda> s(be, h, r, h, beacon::moe::kv_router_options{.key = beacon::moe::key_init::random}, 1);
    for (size_type i = 0; i < e; ++i) s.insert(be, i, {});
    typename R::template cache<float, beacon::cuda> c;
    measure_gpu(st, bytes, flops, [&] { s.route(be, xv, c, {}); });
  };
  if (k == 1) run(beacon::moe::kv_anchor_router<beacon::moe::top_k<1>>{});
  else run(beacon::moe::kv_anchor_router<beacon::moe::top_k<2>>{});
  st.SetLabel(residency(bytes));
}

// The whole adaptor on the GPU: T tokens (one per instance), E SwiGLU experts of width F, top-1
// (the same case as bench_moe's BM_adaptor_forward on the CPU).
void BM_cuda_adaptor_forward(benchmark::State& st) {
  const size_type t = st.range(0), h = st.range(1), f = st.range(2), e = st.range(3);
  const beacon::cuda& be = backend();
  using A = beacon::moe::adaptor<float, beacon::moe::kv_anchor_router<beacon::moe::top_k<1>>, beacon::moe::swiglu_expert, beacon::cuda>;
  A a(be, {.d_model = h, .expert_hidden = f, .router_rank = h / 4});
  beacon::device_buffer<float> x(t * h), out(t * h);
  beacon::fill_normal(be, beacon::philox_stream{5, 0}, x.matrix(t, h));
  const auto xv = beacon::device_matrix<const float>(x.data(), t, h);
  for (size_type i = 0; i < e; ++i)
    a.insert_expert(beacon::moe::expert_init<float, beacon::device_space>::random_normal(static_cast<std::uint64_t>(i)), xv.row_block(i * 8, 8));
  typename A::forward_state state;
  measure_gpu(st, 4.0 * double(2 * t * h + 3 * e * h * f), 6.0 * double(t) * double(h) * double(f),
              [&] { a.forward(xv, xv, out.matrix(t, h), state); });
}

void cuda_routing_grid(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "H", "E", "k"});
  for (int t : {1024, 16384, 65536})
    for (int h : {1024, 4096})
      for (int e : {8, 64, 256})
        for (int k : {1, 2}) b->Args({t, h, e, k});
}
BENCHMARK(BM_cuda_route_softmax_gate)->Apply(cuda_routing_grid)->UseManualTime();
BENCHMARK(BM_cuda_route_kv_anchor)->Apply(cuda_routing_grid)->UseManualTime();
BENCHMARK(BM_cuda_adaptor_forward)->ArgNames({"T", "H", "F", "E"})->Args({4096, 1024, 1408, 8})->Args({4096, 1024, 1408, 64})
    ->UseRealTime()->Unit(benchmark::kMillisecond);

void probe_gpu() {
  const beacon::cuda& be = backend();
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  const auto best_seconds = [&](int runs, auto&& body) {
    body();
    be.synchronize();
    float best = 1e30f;
    for (int r = 0; r < runs; ++r) {
      check(cudaEventRecord(start, be.stream()), "cudaEventRecord");
      body();
      check(cudaEventRecord(stop, be.stream()), "cudaEventRecord");
      check(cudaEventSynchronize(stop), "cudaEventSynchronize");
      float ms = 0;
      check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
      best = std::min(best, ms);
    }
    return static_cast<double>(best) / 1e3;
  };
  const size_type n = size_type{1} << 28;  // 1 GiB of floats
  {
    beacon::device_buffer<float> a(n), b(n);
    const double s = best_seconds(10, [&] { beacon::copy(be, a.view(), b.view()); });
    beacon::bench::peaks().bytes_per_s = 2.0 * 4.0 * double(n) / s;
  }
  const size_type g = 8192;
  {
    beacon::device_buffer<float> a(g * g), b(g * g), c(g * g);
    check(cudaMemset(a.data(), 0, sizeof(float) * static_cast<std::size_t>(g * g)), "cudaMemset");
    check(cudaMemset(b.data(), 0, sizeof(float) * static_cast<std::size_t>(g * g)), "cudaMemset");
    const double s = best_seconds(5, [&] {
      beacon::gemm(be, beacon::transpose::no, beacon::transpose::no, 1.0f, a.matrix(g, g), b.matrix(g, g), 0.0f, c.matrix(g, g));
    });
    beacon::bench::peaks().flops_per_s = 2.0 * double(g) * double(g) * double(g) / s;
  }
  check(cudaEventDestroy(start), "cudaEventDestroy");
  check(cudaEventDestroy(stop), "cudaEventDestroy");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, be.device()), "cudaGetDeviceProperties");
  const auto& p = beacon::bench::peaks();
  char bw[96], fl[96];
  std::snprintf(bw, sizeof bw, "%.1f GB/s (D2D copy of 1 GiB, best of 10)", p.bytes_per_s / 1e9);
  std::snprintf(fl, sizeof fl, "%.1f GFLOP/s (cuBLAS sgemm 8192^3, best of 5)", p.flops_per_s / 1e9);
  benchmark::AddCustomContext("beacon_gpu", prop.name);
  benchmark::AddCustomContext("beacon_peak_bandwidth", bw);
  benchmark::AddCustomContext("beacon_peak_sgemm", fl);
  benchmark::AddCustomContext("beacon_l2", std::to_string(l2_bytes() >> 20) + " MiB");
  std::fprintf(stderr, "beacon GPU roofline probe: %s | bandwidth %s | compute %s | L2 %zu MiB\n", prop.name, bw, fl, l2_bytes() >> 20);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    std::printf("bench_core_cuda: no CUDA device visible (%s); nothing to measure\n",
                status != cudaSuccess ? cudaGetErrorString(status) : "cudaGetDeviceCount found 0 devices");
    return 0;
  }
  probe_gpu();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
