// SPDX-License-Identifier: Apache-2.0
// Planning the editing order of a set of edits: k-means over their embeddings, batches of similar
// edits, and the paper's diagnostics for the planned order against a random one.
#include <beacon/beacon.hpp>
#include <beacon/plan.hpp>

#include <cstdio>
#include <random>
#include <vector>

int main() {
  // 600 synthetic edit embeddings (d = 32) around 6 topics, shuffled: stand-ins for mean-pooled
  // prompt embeddings of edits about 6 kinds of entities.
  const beacon::size_type n = 600, d = 32, topics = 6, batch = 100;
  std::mt19937 gen(2024);
  std::normal_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> centres(static_cast<std::size_t>(topics * d)), x;
  for (auto& v : centres) v = unit(gen);
  std::vector<int> topic(static_cast<std::size_t>(n));
  for (beacon::size_type i = 0; i < n; ++i) topic[static_cast<std::size_t>(i)] = static_cast<int>(i % topics);
  std::shuffle(topic.begin(), topic.end(), gen);
  for (beacon::size_type i = 0; i < n; ++i)
    for (beacon::size_type j = 0; j < d; ++j)
      x.push_back(centres[static_cast<std::size_t>(topic[static_cast<std::size_t>(i)] * d + j)] + 0.6f * unit(gen));

  const auto edits = beacon::host_matrix<const float>(x.data(), n, d);
  beacon::plan::plan_options<float> options;
  options.batch_size = batch;  // K = ceil(N / B) = 6 clusters, one per editing step
  options.kmeans.seed = 7;
  const auto planned = beacon::plan::plan_edit_order(beacon::cpu{}, edits, options);
  const auto random = beacon::plan::random_edit_order(edits, batch, 7);

  std::printf("%lld edits, batches of %lld, k-means: %lld clusters, %lld iterations, inertia %.2f\n\n", static_cast<long long>(n),
              static_cast<long long>(batch), static_cast<long long>(planned.clustering.clusters),
              static_cast<long long>(planned.clustering.iterations), planned.clustering.inertia);
  std::printf("%-10s %22s %22s\n", "order", "within-batch cos (W)", "between-batch cos (Bt)");
  std::printf("%-10s %22.4f %22.4f\n", "planned", planned.similarity.within, planned.similarity.between);
  std::printf("%-10s %22.4f %22.4f\n\n", "random", random.similarity.within, random.similarity.between);
  for (std::size_t b = 0; b < planned.batches.size(); ++b) {
    std::vector<int> per_topic(static_cast<std::size_t>(topics));
    for (auto i : planned.batches[b]) ++per_topic[static_cast<std::size_t>(topic[static_cast<std::size_t>(i)])];
    std::printf("step %zu: %zu edits, topics", b + 1, planned.batches[b].size());
    for (int t = 0; t < topics; ++t) std::printf(" %d", per_topic[static_cast<std::size_t>(t)]);
    std::printf("\n");
  }
  return planned.similarity.within > random.similarity.within && planned.similarity.between < random.similarity.between ? 0 : 1;
}
