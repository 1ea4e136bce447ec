// SPDX-License-Identifier: Apache-2.0
#pragma once
// k-means initialisation on the host (it is sequential by nature): greedy k-means++ with
// 2 + floor(ln k) candidates per centre (scikit-learn's variant), k distinct random points,
// the first k points, or caller-given centroids. Randomness comes from Philox (seed), so a seed
// reproduces the same centres on every machine.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "../core/error.hpp"
#include "../core/philox.hpp"
#include "../core/view.hpp"

namespace beacon::plan {

enum class kmeans_init { kmeans_plus_plus, random, first_k, given };

namespace detail {
template <class T>
double squared_distance(const matrix_view<const T, host_space>& x, size_type i, const double* c) {
  double s = 0;
  for (size_type j = 0; j < x.cols(); ++j) {
    const double v = static_cast<double>(x(i, j)) - c[j];
    s += v * v;
  }
  return s;
}
}  // namespace detail

/// Initial centroids (k x d, row-major, double) for data x (N x d, host).
template <class T, class G = T>
std::vector<double> initial_centroids(matrix_view<const T, host_space> x, size_type k, kmeans_init init,
                                      const std::vector<G>& given, std::uint64_t seed) {
  const size_type n = x.rows(), d = x.cols();
  if (k < 1 || k > n) beacon::detail::fail("initial_centroids", "k", beacon::detail::concat("in [1, ", n, "]"), k);
  std::vector<double> c(static_cast<std::size_t>(k * d));
  auto take_row = [&](size_type slot, size_type row) {
    for (size_type j = 0; j < d; ++j) c[static_cast<std::size_t>(slot * d + j)] = static_cast<double>(x(row, j));
  };
  const philox_stream rng{seed, 0};
  std::uint64_t draw = 0;
  auto uniform = [&] { return rng.uniform_double(draw++); };
  auto index_below = [&](size_type bound) {
    return std::min<size_type>(bound - 1, static_cast<size_type>(uniform() * static_cast<double>(bound)));
  };
  switch (init) {
    case kmeans_init::given:
      if (static_cast<size_type>(given.size()) != k * d)
        beacon::detail::fail<shape_error>("initial_centroids", "initial_centroids",
                                          beacon::detail::concat(k * d, " values (clusters x d)"), given.size());
      for (std::size_t i = 0; i < c.size(); ++i) {
        c[i] = static_cast<double>(given[i]);
        if (!std::isfinite(c[i])) beacon::detail::fail("initial_centroids", "initial_centroids", "finite values", c[i]);
      }
      break;
    case kmeans_init::first_k:
      for (size_type s = 0; s < k; ++s) take_row(s, s);
      break;
    case kmeans_init::random: {  // k distinct points: a partial Fisher-Yates shuffle
      std::vector<size_type> order(static_cast<std::size_t>(n));
      std::iota(order.begin(), order.end(), size_type{0});
      for (size_type s = 0; s < k; ++s) {
        std::swap(order[static_cast<std::size_t>(s)], order[static_cast<std::size_t>(s + index_below(n - s))]);
        take_row(s, order[static_cast<std::size_t>(s)]);
      }
      break;
    }
    case kmeans_init::kmeans_plus_plus: {
      const auto trials = static_cast<size_type>(2 + std::floor(std::log(static_cast<double>(k))));
      take_row(0, index_below(n));
      std::vector<double> closest(static_cast<std::size_t>(n));
      for (size_type i = 0; i < n; ++i) closest[static_cast<std::size_t>(i)] = detail::squared_distance(x, i, c.data());
      double potential = std::accumulate(closest.begin(), closest.end(), 0.0);
      std::vector<double> cumulative(static_cast<std::size_t>(n)), candidate(static_cast<std::size_t>(n)), best_dist;
      for (size_type s = 1; s < k; ++s) {
        std::partial_sum(closest.begin(), closest.end(), cumulative.begin());
        double best_potential = std::numeric_limits<double>::infinity();
        size_type best_row = 0;
        if (!std::isfinite(potential))
          beacon::detail::fail("initial_centroids", "x", "data whose squared distances are finite (scale it down)", "an infinite k-means++ potential");
        for (size_type t = 0; t < trials; ++t) {
          // Every point on a centre (potential 0): any point is as good; draw one uniformly.
          auto row = potential > 0 ? static_cast<size_type>(std::upper_bound(cumulative.begin(), cumulative.end(), uniform() * potential) -
                                                            cumulative.begin())
                                   : index_below(n);
          row = std::min(row, n - 1);
          std::vector<double> center(static_cast<std::size_t>(d));
          for (size_type j = 0; j < d; ++j) center[static_cast<std::size_t>(j)] = static_cast<double>(x(row, j));
          double pot = 0;
          for (size_type i = 0; i < n; ++i) {
            candidate[static_cast<std::size_t>(i)] = std::min(closest[static_cast<std::size_t>(i)], detail::squared_distance(x, i, center.data()));
            pot += candidate[static_cast<std::size_t>(i)];
          }
          if (t == 0 || pot < best_potential) {  // first best candidate wins ties
            best_potential = pot;
            best_row = row;
            best_dist = candidate;
          }
        }
        take_row(s, best_row);
        closest.swap(best_dist);
        potential = best_potential;
      }
      break;
    }
  }
  return c;
}

}  // namespace beacon::plan
