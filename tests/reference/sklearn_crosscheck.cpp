// SPDX-License-Identifier: Apache-2.0
// Optional cross-check of beacon's k-means against scikit-learn (Debian python3-sklearn) on the
// digits data set it ships: from the same initial centroids, the same labels and the inertia within
// 1e-6 relative. Exits 77 (ctest: skipped) with a message when scikit-learn is not installed.
#include "reference_main.hpp"

#include <beacon/beacon.hpp>
#include <beacon/plan.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

using beacon_reference::reference_file;

TEST_CASE("k-means matches scikit-learn's Lloyd on the digits data from the same initial centroids") {
  std::ifstream in(reference_file);
  REQUIRE(in.good());
  long n = 0, d = 0, k = 0, runs = 0;
  in >> n >> d >> k >> runs;
  std::vector<double> x(static_cast<std::size_t>(n * d));
  for (auto& v : x) in >> v;
  REQUIRE(in.good());
  for (long r = 0; r < runs; ++r) {
    std::string name;
    in >> name;
    std::vector<double> init(static_cast<std::size_t>(k * d));
    for (auto& v : init) in >> v;
    std::vector<beacon::index_type> labels(static_cast<std::size_t>(n));
    for (auto& v : labels) in >> v;
    double inertia = 0;
    long iterations = 0;
    in >> inertia >> iterations;
    REQUIRE(in.good());
    beacon::plan::kmeans_options<double> o;
    o.clusters = k;
    o.init = beacon::plan::kmeans_init::given;
    o.initial_centroids = init;
    const auto got = beacon::plan::kmeans(beacon::cpu{}, beacon::host_matrix<const double>(x.data(), n, d), o);
    CAPTURE(name);
    CAPTURE(iterations);
    CAPTURE(got.iterations);
    long differ = 0;
    for (long i = 0; i < n; ++i) differ += got.labels[static_cast<std::size_t>(i)] != labels[static_cast<std::size_t>(i)];
    CHECK(differ == 0);
    CHECK(got.inertia == doctest::Approx(inertia).epsilon(1e-6));
    std::printf("%s: beacon inertia %.10g in %ld iterations, scikit-learn %.10g in %ld, %ld labels differ\n", name.c_str(),
                got.inertia, static_cast<long>(got.iterations), inertia, iterations, differ);
  }
}

int main(int argc, char** argv) {
  return beacon_reference::run(argc, argv,
                               "scikit-learn cross-check: Debian's python3-sklearn is not installed (apt-get install python3-sklearn)");
}
