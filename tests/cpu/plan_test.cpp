// SPDX-License-Identifier: Apache-2.0
// k-means and the editing-order planner: spec lemoe.md TC-8 and TC-9, blob recovery, monotone
// inertia, determinism, restarts, empty-cluster repair and bad input.
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>
#include <beacon/plan.hpp>

#include <cmath>
#include <random>
#include <set>
#include <vector>

using namespace beacon::plan;
using beacon::index_type;
using beacon::size_type;

namespace {
const std::vector<float> tc8 = {1, 0, 0.9f, 0.1f, 1, 0.2f, 0, 1, 0.1f, 0.9f, 0.2f, 1};

/// `per` points around each of `centers` well-separated centres in d dimensions, interleaved.
std::vector<float> blobs(size_type centers, size_type per, size_type d, unsigned seed, std::vector<index_type>& truth) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::uniform_real_distribution<float> where(-10.0f, 10.0f);
  std::vector<float> c(static_cast<std::size_t>(centers * d));
  for (auto& v : c) v = where(gen);
  std::vector<float> x;
  truth.clear();
  for (size_type i = 0; i < per; ++i)
    for (size_type b = 0; b < centers; ++b) {
      for (size_type j = 0; j < d; ++j) x.push_back(c[static_cast<std::size_t>(b * d + j)] + noise(gen));
      truth.push_back(static_cast<index_type>(b));
    }
  return x;
}
}  // namespace

TEST_CASE("TC-8: Lloyd from {p1, p4} converges to the two clusters with SSE 0.053333") {
  kmeans_options<float> o;
  o.clusters = 2;
  o.init = kmeans_init::given;
  o.initial_centroids = {1, 0, 0, 1};
  const auto r = kmeans(beacon::cpu{1}, beacon::host_matrix<const float>(tc8.data(), 6, 2), o);
  CHECK(r.labels == std::vector<index_type>{0, 0, 0, 1, 1, 1});
  CHECK(r.centroids[0] == doctest::Approx(0.966667).epsilon(1e-5));
  CHECK(r.centroids[1] == doctest::Approx(0.1).epsilon(1e-5));
  CHECK(r.centroids[2] == doctest::Approx(0.1).epsilon(1e-5));
  CHECK(r.centroids[3] == doctest::Approx(0.966667).epsilon(1e-5));
  CHECK(r.inertia == doctest::Approx(0.053333).epsilon(1e-4));
  CHECK(r.converged);
  CHECK(r.inertia_history.front() >= r.inertia_history.back());
}

TEST_CASE("TC-8: the planner outputs the clustered batches, W = 0.990235, Bt = 0.202626, beating the random order") {
  plan_options<float> o;
  o.batch_size = 3;
  o.kmeans.init = kmeans_init::given;
  o.kmeans.initial_centroids = {1, 0, 0, 1};
  const auto x = beacon::host_matrix<const float>(tc8.data(), 6, 2);
  const auto p = plan_edit_order(beacon::cpu{1}, x, o);
  REQUIRE(p.batches.size() == 2);
  CHECK(std::set<index_type>(p.batches[0].begin(), p.batches[0].end()) == std::set<index_type>{0, 1, 2});
  CHECK(std::set<index_type>(p.batches[1].begin(), p.batches[1].end()) == std::set<index_type>{3, 4, 5});
  CHECK(p.similarity.within == doctest::Approx(0.990235).epsilon(1e-5));
  CHECK(p.similarity.between == doctest::Approx(0.202626).epsilon(1e-5));
  const auto random = measure_batches(x, {{0, 3, 1}, {4, 2, 5}});
  CHECK(random.within == doctest::Approx(0.464729).epsilon(1e-5));
  CHECK(random.between == doctest::Approx(0.552963).epsilon(1e-5));
  // Brute-force check of the O(N d) identity on the random batching.
  double cross = 0;
  int pairs = 0;
  const std::vector<std::vector<index_type>> rb = {{0, 3, 1}, {4, 2, 5}};
  for (index_type a : rb[0])
    for (index_type b : rb[1]) {
      const double dot = x(a, 0) * x(b, 0) + x(a, 1) * x(b, 1);
      cross += dot / std::hypot(x(a, 0), x(a, 1)) / std::hypot(x(b, 0), x(b, 1));
      ++pairs;
    }
  CHECK(random.between == doctest::Approx(cross / pairs).epsilon(1e-6));  // float inputs
}

TEST_CASE("TC-9: a cluster's leftover is topped up from the nearest cluster") {
  kmeans_result<float> km;
  km.clusters = 3;
  km.dim = 2;
  // A1..A4 = edits 0..3 (cluster 0), B1, B2 = edits 4, 5 (cluster 1, near A), C = edit 6 (cluster 2, far).
  km.labels = {0, 0, 0, 0, 1, 1, 2};
  km.distances = {0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.0};
  km.centroids = {0, 0, 1, 0, 50, 50};
  const auto batches = batches_from_clusters(km, 3);
  REQUIRE(batches.size() == 3);
  CHECK(batches[0] == std::vector<index_type>{0, 1, 2});
  CHECK(batches[1] == std::vector<index_type>{3, 4, 5});
  CHECK(batches[2] == std::vector<index_type>{6});
  CHECK_THROWS_AS(batches_from_clusters(km, 0), beacon::value_error);
  // whole_clusters: one batch per cluster, every edit with its own cluster, largest first.
  const auto whole = batches_from_clusters(km, 3, true);
  REQUIRE(whole.size() == 3);
  CHECK(whole[0] == std::vector<index_type>{0, 1, 2, 3});
  CHECK(whole[1] == std::vector<index_type>{4, 5});
  CHECK(whole[2] == std::vector<index_type>{6});
}

TEST_CASE("k-means recovers separated blobs, never increases inertia, and is deterministic") {
  std::vector<index_type> truth;
  const size_type k = 6, d = 5;
  const auto x = blobs(k, 200, d, 7, truth);
  const auto n = static_cast<size_type>(truth.size());
  kmeans_options<float> o;
  o.clusters = k;
  o.seed = 11;
  o.chunk_rows = 97;  // several chunks, with clusters spanning chunk boundaries
  std::vector<kmeans_progress> progress;
  o.on_iteration = [&](const kmeans_progress& p) { progress.push_back(p); };
  const auto a = kmeans(beacon::cpu{2}, beacon::host_matrix<const float>(x.data(), n, d), o);
  // Same partition as the truth, up to renaming.
  std::vector<index_type> rename(static_cast<std::size_t>(k), -1);
  int disagreements = 0;
  for (size_type i = 0; i < n; ++i) {
    auto& r = rename[static_cast<std::size_t>(truth[static_cast<std::size_t>(i)])];
    if (r < 0) r = a.labels[static_cast<std::size_t>(i)];
    disagreements += r != a.labels[static_cast<std::size_t>(i)];
  }
  CHECK(disagreements == 0);
  CHECK(std::set<index_type>(rename.begin(), rename.end()).size() == static_cast<std::size_t>(k));
  for (std::size_t i = 1; i < a.inertia_history.size(); ++i) CHECK(a.inertia_history[i] <= a.inertia_history[i - 1] * (1 + 1e-12));
  CHECK(progress.size() == static_cast<std::size_t>(a.iterations));
  // Determinism: same seed, same everything; thread count does not matter either.
  o.on_iteration = nullptr;
  const auto b = kmeans(beacon::cpu{1}, beacon::host_matrix<const float>(x.data(), n, d), o);
  CHECK(a.labels == b.labels);
  CHECK(a.centroids == b.centroids);
  CHECK(a.inertia == b.inertia);
  // Restarts keep the best inertia.
  o.restarts = 4;
  o.init = kmeans_init::random;
  const auto best = kmeans(beacon::cpu{2}, beacon::host_matrix<const float>(x.data(), n, d), o);
  for (std::uint64_t s = 0; s < 4; ++s) {
    auto single = o;
    single.restarts = 1;
    single.seed = o.seed + s;
    CHECK(best.inertia <= kmeans(beacon::cpu{2}, beacon::host_matrix<const float>(x.data(), n, d), single).inertia);
  }
}

TEST_CASE("k-means++ spreads the initial centres over the blobs") {
  std::vector<index_type> truth;
  const auto x = blobs(4, 50, 3, 3, truth);
  const auto c = initial_centroids(beacon::host_matrix<const float>(x.data(), 200, 3), 4, kmeans_init::kmeans_plus_plus,
                                   std::vector<float>{}, 5);
  // Each chosen centre is a data point from a different blob.
  std::set<index_type> hit;
  for (int s = 0; s < 4; ++s)
    for (size_type i = 0; i < 200; ++i)
      if (x[static_cast<std::size_t>(i * 3)] == static_cast<float>(c[static_cast<std::size_t>(s * 3)]) &&
          x[static_cast<std::size_t>(i * 3 + 1)] == static_cast<float>(c[static_cast<std::size_t>(s * 3 + 1)]))
        hit.insert(truth[static_cast<std::size_t>(i)]);
  CHECK(hit.size() == 4);
  CHECK(initial_centroids(beacon::host_matrix<const float>(x.data(), 200, 3), 4, kmeans_init::kmeans_plus_plus, std::vector<float>{}, 5) == c);
}

TEST_CASE("an empty cluster is re-seeded from the farthest point") {
  // Two duplicate initial centres: the second one owns no point after the first assignment.
  const std::vector<float> x = {0, 0, 0.1f, 0, 10, 0, 10.2f, 0};
  kmeans_options<float> o;
  o.clusters = 2;
  o.init = kmeans_init::given;
  o.initial_centroids = {0, 0, 0, 0};
  const auto r = kmeans(beacon::cpu{1}, beacon::host_matrix<const float>(x.data(), 4, 2), o);
  CHECK(r.labels[0] == r.labels[1]);
  CHECK(r.labels[2] == r.labels[3]);
  CHECK(r.labels[0] != r.labels[2]);
  CHECK(r.inertia == doctest::Approx(0.005 + 0.02).epsilon(1e-4));
}

TEST_CASE("spherical k-means clusters by direction, not length") {
  const std::vector<float> x = {1, 0.05f, 100, 3, 0.05f, 1, 0.02f, 40};
  kmeans_options<float> o;
  o.clusters = 2;
  o.spherical = true;
  o.init = kmeans_init::first_k;
  o.initial_centroids = {};
  const std::vector<float> x2 = {1, 0.05f, 0.05f, 1, 100, 3, 0.02f, 40};
  const auto r = kmeans(beacon::cpu{1}, beacon::host_matrix<const float>(x2.data(), 4, 2), o);
  CHECK(r.labels == std::vector<index_type>{0, 1, 0, 1});
  CHECK(std::hypot(r.centroids[0], r.centroids[1]) == doctest::Approx(1.0).epsilon(1e-6));
  (void)x;
}

TEST_CASE("the planner beats a random order on clustered data, and the random planner is reproducible") {
  std::vector<index_type> truth;
  const auto x = blobs(5, 40, 8, 9, truth);
  const auto hx = beacon::host_matrix<const float>(x.data(), 200, 8);
  plan_options<float> o;
  o.batch_size = 40;
  o.kmeans.seed = 1;
  const auto planned = plan_edit_order(beacon::cpu{2}, hx, o);
  const auto random = random_edit_order(hx, 40, 1);
  CHECK(planned.batches.size() == 5);
  CHECK(planned.similarity.within > random.similarity.within);
  CHECK(planned.similarity.between < random.similarity.between);
  std::vector<int> seen(200, 0);
  for (const auto& b : planned.batches)
    for (index_type i : b) ++seen[static_cast<std::size_t>(i)];
  CHECK(std::count(seen.begin(), seen.end(), 1) == 200);  // every edit exactly once
  CHECK(random_edit_order(hx, 40, 1).batches == random.batches);
  CHECK(random_edit_order(hx, 40, 2).batches != random.batches);
  o.ordering = batch_ordering::nearest_centroid;
  const auto chained = plan_edit_order(beacon::cpu{2}, hx, o);
  CHECK(chained.batches.front() == planned.batches.front());
  CHECK(chained.similarity.within == doctest::Approx(planned.similarity.within).epsilon(1e-12));
}

TEST_CASE("k-means and the planner reject bad input with named arguments") {
  const auto x = beacon::host_matrix<const float>(tc8.data(), 6, 2);
  kmeans_options<float> o;
  o.clusters = 7;
  CHECK_THROWS_WITH_AS(kmeans(beacon::cpu{1}, x, o), "beacon::kmeans: argument 'clusters' expected <= number of points (6), got 7",
                       beacon::value_error);
  o.clusters = 0;
  CHECK_THROWS_AS(kmeans(beacon::cpu{1}, x, o), beacon::value_error);
  o.clusters = 2;
  std::vector<float> bad = tc8;
  bad[5] = NAN;
  CHECK_THROWS_WITH_AS(kmeans(beacon::cpu{1}, beacon::host_matrix<const float>(bad.data(), 6, 2), o),
                       "beacon::kmeans: argument 'x' expected finite values, got nan at row 2, column 1", beacon::value_error);
  o.init = kmeans_init::given;
  o.initial_centroids = {1, 0, 0};
  CHECK_THROWS_AS(kmeans(beacon::cpu{1}, x, o), beacon::shape_error);
  plan_options<float> p;
  p.batch_size = 0;
  CHECK_THROWS_WITH_AS(plan_edit_order(beacon::cpu{1}, x, p), "beacon::plan_edit_order: argument 'batch_size' expected >= 1, got 0",
                       beacon::value_error);
  CHECK_THROWS_AS(random_edit_order(x, 0, 1), beacon::value_error);
  CHECK_THROWS_AS(measure_batches(x, {{0, 9}}), beacon::value_error);
}
