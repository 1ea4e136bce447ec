// SPDX-License-Identifier: Apache-2.0
#pragma once
// Knowledge drift and interference diagnostics (spec semantic_peft.md §2.2d-f):
//   drift           delta_k = dT_k - d0_k; pushed away iff delta_k > delta (strict)
//   feature         f_k = sem(y*_k) - o_theta0(x_k)   (the direction the model must move)
//   conflict        C = mean_{i<j} max(0, -cos(f_i, f_j))   (0 with fewer than two features)
//   cancellation    rho = |sum_k f_k| / sum_k |f_k| in [0, 1]   (1 when every feature is zero)

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "../backend/checks.hpp"
#include "../core/error.hpp"
#include "../core/view.hpp"
#include "distance.hpp"

namespace beacon::semantic {

struct drift_report {
  std::vector<double> delta;  ///< dT - d0 per item
  size_type pushed = 0;       ///< items with delta > threshold
  double push_away_rate = 0;  ///< pushed / N (0 for N = 0)
};

inline drift_report knowledge_drift(std::span<const double> d0, std::span<const double> dT, double threshold = 0.0) {
  if (d0.size() != dT.size())
    beacon::detail::fail<shape_error>("knowledge_drift", "dT", beacon::detail::concat("size ", d0.size()), dT.size());
  drift_report r;
  for (std::size_t k = 0; k < d0.size(); ++k) {
    if (!std::isfinite(d0[k]) || !std::isfinite(dT[k]))
      beacon::detail::fail("knowledge_drift", "d0/dT", "finite distances", beacon::detail::concat("a non-finite value at item ", k));
    r.delta.push_back(dT[k] - d0[k]);
    r.pushed += r.delta.back() > threshold;
  }
  r.push_away_rate = d0.empty() ? 0.0 : static_cast<double>(r.pushed) / static_cast<double>(d0.size());
  return r;
}

/// f_k = target_k - output_k (rows of two host matrices).
template <class A, class B, class T>
void knowledge_features(matrix_view<A, host_space> targets, matrix_view<B, host_space> outputs, matrix_view<T, host_space> features) {
  beacon::detail::require_same_shape("knowledge_features", "outputs", targets, outputs);
  beacon::detail::require_same_shape("knowledge_features", "features", targets, features);
  for (size_type i = 0; i < targets.rows(); ++i)
    for (size_type j = 0; j < targets.cols(); ++j) features(i, j) = static_cast<T>(targets(i, j) - outputs(i, j));
}

/// C: mean over pairs of max(0, -cos(f_i, f_j)) (per-norm clamped cosine, eps = 1e-8).
template <class F>
double feature_conflict(matrix_view<F, host_space> features) {
  const size_type n = features.rows();
  if (n < 2) return 0.0;
  double sum = 0;
  for (size_type i = 0; i < n; ++i)
    for (size_type j = i + 1; j < n; ++j)
      sum += std::max(0.0, -cosine_similarity(features.row(i), features.row(j), features.cols()));
  return sum / (static_cast<double>(n) * static_cast<double>(n - 1) / 2.0);
}

/// rho = |sum f| / sum |f| (1 when all features are zero, and for no features).
template <class F>
double cancellation_ratio(matrix_view<F, host_space> features) {
  std::vector<double> total(static_cast<std::size_t>(features.cols()), 0.0);
  double lengths = 0;
  for (size_type i = 0; i < features.rows(); ++i) {
    double sq = 0;
    for (size_type j = 0; j < features.cols(); ++j) {
      total[static_cast<std::size_t>(j)] += static_cast<double>(features(i, j));
      sq += static_cast<double>(features(i, j)) * static_cast<double>(features(i, j));
    }
    lengths += std::sqrt(sq);
  }
  if (lengths == 0.0) return 1.0;
  double sq = 0;
  for (double v : total) sq += v * v;
  return std::sqrt(sq) / lengths;
}

}  // namespace beacon::semantic
