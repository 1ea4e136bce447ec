// SPDX-License-Identifier: Apache-2.0
#pragma once
// Data filtering by target semantic distance d0 (spec semantic_peft.md §3), computed once before
// training from the frozen model:
//   threshold(tau)      keep k iff d0_k <= tau
//   percentile(q)       drop the ceil(q N - 1e-9) items with the largest d0 (ties: the higher index is dropped)
//   mean_var(n, lambda) keep the n items minimising J(S) = mean_S(d0) - lambda var_S(d0) (population
//                       variance), by greedy best-improving single swaps from the n smallest
// Items with a non-finite d0 are dropped and counted; min_keep forces the min_keep smallest-d0 items
// in; an empty result is reported as all_filtered (never an empty training set by accident).

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <vector>

#include "../core/error.hpp"
#include "../core/view.hpp"

namespace beacon::semantic {

enum class filter_criterion { threshold, percentile, mean_var };
enum class filter_status { ok, all_filtered };

struct filter_options {
  filter_criterion criterion = filter_criterion::threshold;
  double threshold = 0.5;   ///< tau for threshold
  double fraction = 0.1;    ///< q for percentile, in [0, 1]
  size_type keep = 0;       ///< n for mean_var
  double lambda = 0.0;      ///< variance weight for mean_var
  size_type min_keep = 0;   ///< always keep at least this many (smallest d0 first)
};

struct filter_result {
  std::vector<index_type> kept;  ///< ascending item indices
  filter_status status = filter_status::ok;
  size_type invalid = 0;         ///< items dropped for a non-finite d0
  double mean_before = 0, var_before = 0, mean_after = 0, var_after = 0;
  double objective = 0;          ///< J(S) of the kept set (mean_var); mean - lambda var otherwise too
};

namespace detail {
inline void mean_var(std::span<const double> d, const std::vector<index_type>& set, double& mean, double& var) {
  mean = var = 0;
  if (set.empty()) return;
  for (index_type i : set) mean += d[static_cast<std::size_t>(i)];
  mean /= static_cast<double>(set.size());
  for (index_type i : set) var += (d[static_cast<std::size_t>(i)] - mean) * (d[static_cast<std::size_t>(i)] - mean);
  var /= static_cast<double>(set.size());
}
}  // namespace detail

inline filter_result filter_by_distance(std::span<const double> d0, const filter_options& o) {
  const char* fn = "filter_by_distance";
  if (o.min_keep < 0) beacon::detail::fail(fn, "min_keep", ">= 0", o.min_keep);
  filter_result r;
  std::vector<index_type> valid;  // finite items, sorted by (d0, index)
  for (std::size_t k = 0; k < d0.size(); ++k) {
    if (std::isfinite(d0[k])) valid.push_back(static_cast<index_type>(k));
    else ++r.invalid;
  }
  std::stable_sort(valid.begin(), valid.end(), [&](index_type a, index_type b) {
    return d0[static_cast<std::size_t>(a)] < d0[static_cast<std::size_t>(b)];
  });
  detail::mean_var(d0, valid, r.mean_before, r.var_before);
  const auto n = static_cast<size_type>(valid.size());
  std::vector<index_type> keep;
  switch (o.criterion) {
    case filter_criterion::threshold:
      if (std::isnan(o.threshold)) beacon::detail::fail(fn, "threshold", "a number", o.threshold);
      for (index_type i : valid)
        if (d0[static_cast<std::size_t>(i)] <= o.threshold) keep.push_back(i);
      break;
    case filter_criterion::percentile: {
      if (!(o.fraction >= 0.0 && o.fraction <= 1.0)) beacon::detail::fail(fn, "fraction", "in [0, 1]", o.fraction);
      const auto drop = std::min(n, static_cast<size_type>(std::ceil(o.fraction * static_cast<double>(n) - 1e-9)));
      keep.assign(valid.begin(), valid.end() - drop);
      break;
    }
    case filter_criterion::mean_var: {
      if (o.keep < 0 || o.keep > n)
        beacon::detail::fail(fn, "keep", beacon::detail::concat("in [0, ", n, "] (valid items)"), o.keep);
      if (!std::isfinite(o.lambda)) beacon::detail::fail(fn, "lambda", "a finite number", o.lambda);
      std::vector<char> in(d0.size(), 0);
      double s1 = 0, s2 = 0;  // running sums of d and d^2 over the set: each candidate swap is O(1)
      for (size_type i = 0; i < o.keep; ++i) {
        const auto k = static_cast<std::size_t>(valid[static_cast<std::size_t>(i)]);
        in[k] = 1;
        s1 += d0[k];
        s2 += d0[k] * d0[k];
      }
      const auto m = static_cast<double>(o.keep);
      auto objective = [&](double a1, double a2) {
        if (m == 0) return 0.0;
        const double mean = a1 / m;
        return mean - o.lambda * std::max(0.0, a2 / m - mean * mean);
      };
      double j = objective(s1, s2);
      for (;;) {  // best-improving single swap; ties -> smallest (out, in) index pair
        double best = j;
        index_type best_out = -1, best_in = -1;
        for (std::size_t out_i = 0; out_i < d0.size(); ++out_i) {
          if (!in[out_i] || !std::isfinite(d0[out_i])) continue;
          for (std::size_t in_i = 0; in_i < d0.size(); ++in_i) {
            if (in[in_i] || !std::isfinite(d0[in_i])) continue;
            const double candidate = objective(s1 - d0[out_i] + d0[in_i], s2 - d0[out_i] * d0[out_i] + d0[in_i] * d0[in_i]);
            if (candidate < best - 1e-12) {
              best = candidate;
              best_out = static_cast<index_type>(out_i);
              best_in = static_cast<index_type>(in_i);
            }
          }
        }
        if (best_out < 0) break;
        const auto bo = static_cast<std::size_t>(best_out), bi = static_cast<std::size_t>(best_in);
        in[bo] = 0;
        in[bi] = 1;
        s1 += d0[bi] - d0[bo];
        s2 += d0[bi] * d0[bi] - d0[bo] * d0[bo];
        j = best;
      }
      for (index_type i : valid)
        if (in[static_cast<std::size_t>(i)]) keep.push_back(i);
      break;
    }
  }
  // min_keep: the smallest-d0 items are always in.
  for (size_type i = 0; i < std::min(o.min_keep, n); ++i)
    if (std::find(keep.begin(), keep.end(), valid[static_cast<std::size_t>(i)]) == keep.end()) keep.push_back(valid[static_cast<std::size_t>(i)]);
  std::sort(keep.begin(), keep.end());
  r.kept = std::move(keep);
  detail::mean_var(d0, r.kept, r.mean_after, r.var_after);
  r.objective = r.mean_after - (o.criterion == filter_criterion::mean_var ? o.lambda : 0.0) * r.var_after;
  r.status = r.kept.empty() && !d0.empty() ? filter_status::all_filtered : filter_status::ok;
  return r;
}

}  // namespace beacon::semantic
