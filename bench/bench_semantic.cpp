// SPDX-License-Identifier: Apache-2.0
// Semantic re-weighted cross-entropy forward + backward on the CPU backend (issue 5): softmax and
// CE over V, the items' expected embeddings E^T (mean p) (2 (N / L) V D FLOP: pooled before the
// GEMM), weights, and dL/dlogits in place. PyTorch reference at the same sizes:
// bench/torch_semantic_ce.py.
// Bytes: read logits, write the gradient, read E once (N x V x 4 x 2 + V x D x 4).
#include <beacon/beacon.hpp>
#include <beacon/semantic.hpp>

#include <random>
#include <vector>

#include "roofline.hpp"

namespace {
using beacon::size_type;

void BM_semantic_ce(benchmark::State& st) {
  const size_type rows = st.range(0), vocab = st.range(1), dim = 1024, length = 8;
  std::mt19937 gen(5);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> logits(static_cast<std::size_t>(rows * vocab)), grad(logits.size()), emb(static_cast<std::size_t>(vocab * dim));
  for (auto& v : logits) v = 2.0f * g(gen);
  for (auto& v : emb) v = g(gen);
  std::vector<beacon::index_type> targets(static_cast<std::size_t>(rows));
  for (size_type r = 0; r < rows; ++r) targets[static_cast<std::size_t>(r)] = static_cast<beacon::index_type>((r * 104729) % vocab);
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(rows), 1);  // every row an answer token
  const double bytes = 8.0 * double(rows) * double(vocab) + 4.0 * double(vocab * dim);
  // The probabilities are pooled per item (L rows) before the GEMM with E: 2 (N / L) V D FLOP.
  const double flops = 2.0 * double(rows / length) * double(vocab) * double(dim) + 6.0 * double(rows) * double(vocab);
  beacon::bench::measure(st, bytes, flops, [&] {
    const auto r = beacon::semantic::semantic_cross_entropy(
        beacon::cpu{}, beacon::host_matrix<const float>(logits.data(), rows, vocab), beacon::host_vector(targets.data(), rows),
        beacon::host_matrix(mask.data(), rows / length, length), beacon::host_matrix<const float>(emb.data(), vocab, dim), {},
        beacon::host_matrix(grad.data(), rows, vocab));
    benchmark::DoNotOptimize(r.combined.loss);
  });
}

BENCHMARK(BM_semantic_ce)->ArgNames({"BL", "V"})->Args({4096, 32000})->Args({16384, 50257})->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);
}  // namespace

BEACON_BENCH_MAIN();
