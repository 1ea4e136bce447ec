// SPDX-License-Identifier: Apache-2.0
// Optional cross-check of the semantic re-weighted cross-entropy (CPU path, double) against PyTorch
// (Debian python3-torch): per-item / per-token, expected / argmax output vectors, linear / softmax /
// power weights, both normalisations and the ADDITIVE term; the loss, the per-item CE and distances
// and the autograd gradient w.r.t. the logits agree within 1e-10. Exits 77 (ctest: skipped) with a
// message when torch is not installed.
#include "reference_main.hpp"

#include <beacon/beacon.hpp>
#include <beacon/semantic.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

using beacon_reference::reference_file;
using beacon_reference::worst;

namespace {

template <class T>
std::vector<T> read_values(std::ifstream& in, std::size_t n) {
  std::vector<T> v(n);
  for (auto& x : v) in >> x;
  return v;
}

}  // namespace

TEST_CASE("semantic re-weighted cross-entropy and its logit gradient match PyTorch autograd") {
  namespace sem = beacon::semantic;
  std::ifstream in(reference_file);
  REQUIRE(in.good());
  int cases = 0;
  in >> cases;
  REQUIRE(cases > 0);
  for (int c = 0; c < cases; ++c) {
    std::string name;
    int per_token = 0, argmax = 0, scheme = 0, mean_norm = 0;
    sem::reweight_options o;
    in >> name >> per_token >> argmax >> scheme >> o.alpha >> o.tau >> o.gamma >> o.w_min >> mean_norm >> o.additive_lambda;
    o.scheme = scheme == 0 ? sem::weight_scheme::linear : scheme == 1 ? sem::weight_scheme::softmax : sem::weight_scheme::power;
    o.normalisation = mean_norm ? sem::weight_normalisation::mean : sem::weight_normalisation::self_normalised;
    long items = 0, length = 0, vocab = 0, dim = 0;
    in >> items >> length >> vocab >> dim;
    const auto rows = static_cast<std::size_t>(items * length);
    const auto logits = read_values<double>(in, rows * static_cast<std::size_t>(vocab));
    const auto targets = read_values<beacon::index_type>(in, rows);
    const auto mask = read_values<int>(in, rows);
    const auto embedding = read_values<double>(in, static_cast<std::size_t>(vocab * dim));
    double loss = 0;
    std::size_t n = 0;
    in >> loss >> n;
    const auto ce = read_values<double>(in, n);
    const auto distance = read_values<double>(in, n);
    const auto grad = read_values<double>(in, rows * static_cast<std::size_t>(vocab));
    REQUIRE(in.good());

    std::vector<double> got_grad(grad.size());
    const auto r = sem::semantic_cross_entropy(
        beacon::cpu{1}, beacon::host_matrix(logits.data(), items * length, vocab), beacon::host_vector(targets.data(), items * length),
        beacon::host_matrix(mask.data(), items, length), beacon::host_matrix(embedding.data(), vocab, dim), o,
        beacon::host_matrix(got_grad.data(), items * length, vocab),
        per_token ? sem::loss_granularity::per_token : sem::loss_granularity::per_item,
        argmax ? sem::output_vector::argmax : sem::output_vector::expected);
    CAPTURE(name);
    CHECK(r.combined.loss == doctest::Approx(loss).epsilon(1e-10));
    CHECK(worst(r.ce, ce) <= 1);
    CHECK(worst(r.distance, distance) <= 1);
    CHECK(worst(got_grad, grad) <= 1);
    std::printf("%s: beacon loss %.15g, torch %.15g, %zu items\n", name.c_str(), r.combined.loss, loss, n);
  }
}

int main(int argc, char** argv) {
  return beacon_reference::run(argc, argv,
                               "PyTorch cross-check: /usr/bin/python3 cannot import torch (apt-get install python3-torch)");
}
