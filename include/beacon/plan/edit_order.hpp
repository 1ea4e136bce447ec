// SPDX-License-Identifier: Apache-2.0
#pragma once
// LEMoE's clustering-based editing-order planning: cluster the edit embeddings with k-means, fill
// each editing batch from one cluster (members nearest their centroid first), top leftovers up from
// the nearest remaining cluster, and report the paper's diagnostics: mean within-batch cosine
// similarity W (higher is better) and mean between-batch similarity Bt (lower is better).
// A seeded random planner gives the ablation baseline.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "../core/backend.hpp"
#include "../core/error.hpp"
#include "../core/philox.hpp"
#include "../core/views_of.hpp"
#include "../backend/transfer.hpp"
#include "kmeans.hpp"

namespace beacon::plan {

enum class batch_ordering {
  cluster,            ///< batches in the order their clusters are visited (largest cluster first)
  nearest_centroid,   ///< greedy chain: each next batch is the one whose mean is nearest the current one's
};

template <class T>
struct plan_options {
  size_type batch_size = 0;                              ///< B, edits per editing step (required)
  size_type clusters = 0;                                ///< K; 0 = ceil(N / B), one cluster per step
  batch_ordering ordering = batch_ordering::cluster;
  /// One batch per (non-empty) cluster, whatever its size: every edit is in the batch of its nearest
  /// centroid (batch_size then only sets K). Routers keyed on batch centres need this: equal-size
  /// batches spill a cluster's far members into a batch whose centre is not their nearest.
  bool whole_clusters = false;
  kmeans_options<T> kmeans = cosine_kmeans();           ///< seed / init / restarts etc.; spherical (cosine) by default

  static kmeans_options<T> cosine_kmeans() {
    kmeans_options<T> o;
    o.spherical = true;
    return o;
  }
};

struct batch_similarity {
  double within = 0;   ///< W: mean over batches (of >= 2 edits) of the mean pairwise cosine inside the batch
  double between = 0;  ///< Bt: mean cosine over all pairs of edits in different batches
};

template <class T>
struct edit_plan {
  std::vector<std::vector<index_type>> batches;  ///< edit indices, in editing order
  batch_similarity similarity;
  kmeans_result<T> clustering;                   ///< empty for the random planner
  std::uint64_t seed = 0;
};

/// W and Bt of a batching of the rows of x (host), in O(N d) via per-batch sums of unit vectors:
/// sum_{i != j in b} u_i . u_j = ||S_b||^2 - sum_i ||u_i||^2.
template <class X>
batch_similarity measure_batches(matrix_view<X, host_space> x, const std::vector<std::vector<index_type>>& batches) {
  const size_type d = x.cols();
  std::vector<double> total(static_cast<std::size_t>(d), 0.0), s(static_cast<std::size_t>(d));
  double within_sum = 0, sq_within_all = 0, pairs_within_all = 0;
  size_type counted = 0, n = 0;
  for (const auto& batch : batches) {
    std::fill(s.begin(), s.end(), 0.0);
    double self = 0;
    for (index_type i : batch) {
      if (i < 0 || i >= x.rows())
        beacon::detail::fail("measure_batches", "batches", beacon::detail::concat("edit indices in [0, ", x.rows(), ")"), i);
      // The norm scaled by the row's largest magnitude, so that values near the double range do not
      // overflow to infinity (which would silently count the row as a zero vector).
      double scale = 0, norm = 0;
      for (size_type j = 0; j < d; ++j) {
        const double v = static_cast<double>(x(i, j));
        if (!std::isfinite(v)) beacon::detail::fail("measure_batches", "x", "finite values", beacon::detail::concat(v, " at row ", i, ", column ", j));
        scale = std::max(scale, std::abs(v));
      }
      for (size_type j = 0; j < d && scale > 0; ++j) norm += (static_cast<double>(x(i, j)) / scale) * (static_cast<double>(x(i, j)) / scale);
      const double inv = norm > 0 ? 1.0 / (std::sqrt(norm) * scale) : 0.0;
      for (size_type j = 0; j < d; ++j) s[static_cast<std::size_t>(j)] += static_cast<double>(x(i, j)) * inv;
      self += norm > 0 ? 1.0 : 0.0;
    }
    double sq = 0;
    for (size_type j = 0; j < d; ++j) {
      sq += s[static_cast<std::size_t>(j)] * s[static_cast<std::size_t>(j)];
      total[static_cast<std::size_t>(j)] += s[static_cast<std::size_t>(j)];
    }
    const auto m = static_cast<double>(batch.size());
    if (batch.size() >= 2) {
      within_sum += (sq - self) / (m * (m - 1));
      ++counted;
    }
    sq_within_all += sq;
    pairs_within_all += m * m;
    n += static_cast<size_type>(batch.size());
  }
  double sq_total = 0;
  for (double v : total) sq_total += v * v;
  batch_similarity r;
  r.within = counted > 0 ? within_sum / static_cast<double>(counted) : 0.0;
  const double cross_pairs = static_cast<double>(n) * static_cast<double>(n) - pairs_within_all;
  r.between = cross_pairs > 0 ? (sq_total - sq_within_all) / cross_pairs : 0.0;
  return r;
}

namespace detail {
inline void check_batch_size(const char* fn, size_type batch_size, size_type n) {
  if (batch_size < 1) beacon::detail::fail(fn, "batch_size", ">= 1", batch_size);
  if (n < 1) beacon::detail::fail(fn, "x", "at least one edit", "0 rows");
}

/// Greedy nearest-mean chain over batches, starting from the first.
template <class X>
std::vector<std::vector<index_type>> chain_batches(matrix_view<X, host_space> x, std::vector<std::vector<index_type>> batches) {
  const size_type d = x.cols();
  std::vector<std::vector<double>> means;
  for (const auto& b : batches) {
    std::vector<double> m(static_cast<std::size_t>(d), 0.0);
    for (index_type i : b)
      for (size_type j = 0; j < d; ++j) m[static_cast<std::size_t>(j)] += static_cast<double>(x(i, j)) / static_cast<double>(b.size());
    means.push_back(std::move(m));
  }
  std::vector<bool> used(batches.size(), false);
  std::vector<std::vector<index_type>> out;
  std::size_t current = 0;
  for (std::size_t step = 0; step < batches.size(); ++step) {
    used[current] = true;
    out.push_back(batches[current]);
    double best = INFINITY;
    std::size_t next = current;
    for (std::size_t c = 0; c < batches.size(); ++c) {
      if (used[c]) continue;
      double dist = 0;
      for (size_type j = 0; j < d; ++j) {
        const double v = means[c][static_cast<std::size_t>(j)] - means[current][static_cast<std::size_t>(j)];
        dist += v * v;
      }
      if (dist < best) {
        best = dist;
        next = c;
      }
    }
    current = next;
  }
  return out;
}
}  // namespace detail

/// Batches from a clustering: clusters by size (descending, ties by index), members by distance to
/// their centroid (ties by edit index), full batches per cluster, and a cluster's leftover topped
/// up from the nearest remaining cluster (centroid distance), then the next nearest, ... With
/// `whole_clusters`, one batch per non-empty cluster instead (in the same cluster order).
template <class T>
std::vector<std::vector<index_type>> batches_from_clusters(const kmeans_result<T>& km, size_type batch_size, bool whole_clusters = false) {
  const size_type k = km.clusters, d = km.dim;
  if (batch_size < 1) beacon::detail::fail("batches_from_clusters", "batch_size", ">= 1", batch_size);
  std::vector<std::vector<index_type>> members(static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < km.labels.size(); ++i) members[static_cast<std::size_t>(km.labels[i])].push_back(static_cast<index_type>(i));
  for (auto& m : members)
    std::stable_sort(m.begin(), m.end(), [&](index_type a, index_type b) {
      return km.distances[static_cast<std::size_t>(a)] < km.distances[static_cast<std::size_t>(b)];
    });
  std::vector<size_type> order(static_cast<std::size_t>(k));
  std::iota(order.begin(), order.end(), size_type{0});
  std::stable_sort(order.begin(), order.end(), [&](size_type a, size_type b) {
    return members[static_cast<std::size_t>(a)].size() > members[static_cast<std::size_t>(b)].size();
  });
  auto centroid_distance = [&](size_type a, size_type b) {
    double s = 0;
    for (size_type j = 0; j < d; ++j) {
      const double v = static_cast<double>(km.centroids[static_cast<std::size_t>(a * d + j)]) -
                       static_cast<double>(km.centroids[static_cast<std::size_t>(b * d + j)]);
      s += v * v;
    }
    return s;
  };
  if (whole_clusters) {
    std::vector<std::vector<index_type>> batches;
    for (size_type c : order)
      if (!members[static_cast<std::size_t>(c)].empty()) batches.push_back(std::move(members[static_cast<std::size_t>(c)]));
    return batches;
  }
  std::vector<std::size_t> cursor(static_cast<std::size_t>(k), 0);
  auto remaining = [&](size_type c) { return members[static_cast<std::size_t>(c)].size() - cursor[static_cast<std::size_t>(c)]; };
  std::vector<std::vector<index_type>> batches;
  for (size_type c : order) {
    while (remaining(c) > 0) {
      std::vector<index_type> batch;
      auto take_from = [&](size_type from) {
        while (static_cast<size_type>(batch.size()) < batch_size && remaining(from) > 0)
          batch.push_back(members[static_cast<std::size_t>(from)][cursor[static_cast<std::size_t>(from)]++]);
      };
      take_from(c);
      while (static_cast<size_type>(batch.size()) < batch_size) {  // leftover: top up from the nearest non-empty cluster
        size_type nearest = -1;
        double best = INFINITY;
        for (size_type o = 0; o < k; ++o) {
          if (o == c || remaining(o) == 0) continue;
          const double dist = centroid_distance(c, o);
          if (dist < best) {
            best = dist;
            nearest = o;
          }
        }
        if (nearest < 0) break;  // nothing left anywhere: the last batch is short
        take_from(nearest);
      }
      batches.push_back(std::move(batch));
    }
  }
  return batches;
}

/// The planner: k-means over the edit embeddings (rows of x, any backend), batches of B from the
/// clusters, batch order, diagnostics (computed on the host copy of x).
template <backend B, class X>
  requires kmeans_backend<B, std::remove_const_t<X>>
edit_plan<std::remove_const_t<X>> plan_edit_order(const B& be, matrix_view<X, typename B::memory_space> x,
                                                  const plan_options<std::remove_const_t<X>>& opt) {
  using T = std::remove_const_t<X>;
  detail::check_batch_size("plan_edit_order", opt.batch_size, x.rows());
  kmeans_options<T> km = opt.kmeans;
  km.clusters = opt.clusters > 0 ? opt.clusters : x.rows() / opt.batch_size + (x.rows() % opt.batch_size != 0);  // ceil, without overflow
  edit_plan<T> plan;
  plan.clustering = kmeans(be, x, km);
  plan.seed = plan.clustering.seed;
  plan.batches = batches_from_clusters(plan.clustering, opt.batch_size, opt.whole_clusters);
  const std::vector<T> host = beacon::download(be, x);
  const auto hx = host_matrix<const T>(host.data(), x.rows(), x.cols());
  if (opt.ordering == batch_ordering::nearest_centroid) plan.batches = detail::chain_batches(hx, std::move(plan.batches));
  plan.similarity = measure_batches(hx, plan.batches);
  return plan;
}

/// plan_edit_order of a row-major Eigen matrix (or Map, Block, Ref) as held, on a host backend.
template <backend B, class M>
  requires(!beacon::detail::is_matrix_view_v<std::remove_cvref_t<M>>)
auto plan_edit_order(const B& be, const M& x, const plan_options<matrix_element_t<const M>>& opt) {
  static_assert(matrix_like<const M&>,
                "beacon::plan::plan_edit_order: argument 'x' expected an N x d matrix (matrix_view, a row-major Eigen matrix, or beacon::matrix_of(vector, N, d))");
  return plan_edit_order(be, matrix_of(x), opt);
}

/// The ablation baseline: a seeded random permutation cut into batches of B.
template <class X>
edit_plan<std::remove_const_t<X>> random_edit_order(matrix_view<X, host_space> x, size_type batch_size, std::uint64_t seed) {
  detail::check_batch_size("random_edit_order", batch_size, x.rows());
  std::vector<index_type> order(static_cast<std::size_t>(x.rows()));
  std::iota(order.begin(), order.end(), 0);
  const philox_stream rng{seed, 0};
  for (size_type i = x.rows() - 1; i > 0; --i) {
    const auto j = std::min<size_type>(i, static_cast<size_type>(rng.uniform_double(static_cast<std::uint64_t>(i)) * static_cast<double>(i + 1)));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  edit_plan<std::remove_const_t<X>> plan;
  plan.seed = seed;
  for (size_type first = 0; first < x.rows();) {  // batch_size may be near the index range: never add past rows
    const size_type last = first + std::min(batch_size, x.rows() - first);
    plan.batches.emplace_back(order.begin() + first, order.begin() + last);
    first = last;
  }
  plan.similarity = measure_batches(x, plan.batches);
  return plan;
}

}  // namespace beacon::plan
