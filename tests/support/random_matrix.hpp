// SPDX-License-Identifier: Apache-2.0
#pragma once
// Seeded normal test matrices shared by the CPU tests.

#include <beacon/core/eigen.hpp>

#include <random>

namespace beacon_test {

inline beacon::row_matrix<double> random_matrix(beacon::size_type r, beacon::size_type c, unsigned seed, double scale = 1.0) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> n01(0, scale);
  beacon::row_matrix<double> m(r, c);
  for (beacon::size_type i = 0; i < r; ++i)
    for (beacon::size_type j = 0; j < c; ++j) m(i, j) = n01(gen);
  return m;
}

}  // namespace beacon_test
