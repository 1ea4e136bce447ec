// SPDX-License-Identifier: Apache-2.0
// The semantic re-weighted cross-entropy on a toy batch: items whose expected output embedding is
// far from their knowledge target (in cosine distance) get more weight, and the gradient w.r.t. the
// logits comes back in the same call. Then data filtering by the target semantic distance.
#include <beacon/beacon.hpp>
#include <beacon/semantic.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
  using namespace beacon::semantic;
  const beacon::size_type items = 4, length = 3, vocab = 50, dim = 8;
  std::mt19937 gen(1);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<float> embedding(static_cast<std::size_t>(vocab * dim)), logits(static_cast<std::size_t>(items * length * vocab));
  for (auto& v : embedding) v = n01(gen);
  for (auto& v : logits) v = 2.0f * n01(gen);
  // Position 0 of each item is prompt (masked); positions 1-2 are the answer tokens.
  const std::vector<beacon::index_type> targets = {0, 4, 9, 0, 17, 3, 0, 25, 25, 0, 8, 41};
  const std::vector<std::uint8_t> answer = {0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1};
  std::vector<float> grad(logits.size());

  for (auto scheme : {weight_scheme::linear, weight_scheme::softmax}) {
    reweight_options o;
    o.scheme = scheme;
    const auto r = semantic_cross_entropy(beacon::cpu{}, beacon::host_matrix<const float>(logits.data(), items * length, vocab),
                                          beacon::host_vector(targets.data(), items * length),
                                          beacon::host_matrix(answer.data(), items, length),
                                          beacon::host_matrix<const float>(embedding.data(), vocab, dim), o,
                                          beacon::host_matrix(grad.data(), items * length, vocab));
    std::printf("%s weights: loss %.4f (plain CE would be %.4f)\n", scheme == weight_scheme::linear ? "linear(1)" : "softmax(0.2)",
                r.combined.loss, (r.ce[0] + r.ce[1] + r.ce[2] + r.ce[3]) / 4);
    for (std::size_t i = 0; i < r.ce.size(); ++i)
      std::printf("  item %zu: ce %.4f  semantic distance %.4f  weight %.3f\n", i, r.ce[i], r.distance[i], r.combined.weights[i]);
  }
  double norm = 0;
  for (float g : grad) norm += double(g) * g;
  std::printf("|dL/dlogits| = %.5f (prompt rows get exactly 0)\n\n", std::sqrt(norm));

  const std::vector<double> d0 = {0.1, 0.4, 0.2, 0.9, 0.3};
  const auto kept = filter_by_distance(d0, {.criterion = filter_criterion::percentile, .fraction = 0.2});
  std::printf("filtering d0 = {0.1, 0.4, 0.2, 0.9, 0.3}, drop the farthest 20%%: keep");
  for (auto i : kept.kept) std::printf(" %d", i);
  std::printf(" (mean %.3f -> %.3f)\n", kept.mean_before, kept.mean_after);
  return 0;
}
