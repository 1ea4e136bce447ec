// SPDX-License-Identifier: Apache-2.0
#pragma once
// k-means for the editing-order planner (and anyone else): k-means++ / random / first-k / given
// initialisation, Lloyd iterations on any backend, deterministic centroid updates, empty-cluster
// repair, scikit-learn's tolerance rule, restarts keeping the best inertia, optional spherical mode.
//
// Where the work goes: the N x K x d assignment is one backend GEMM per chunk of rows
// (backend/nearest_row.hpp, never more than a chunk of distances resident), and the centroid sums
// are the points gathered in label order and reduced per segment (fixed order: no float atomics).
// The K x d centroid state is small and lives on the host in double between iterations, where
// relocation, division and the convergence test happen; only labels, offsets and sums cross.
// Results are bit-identical run to run for the same data, options and backend.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

#include "../backend/contract.hpp"
#include "../backend/nearest_row.hpp"
#include "../backend/transfer.hpp"
#include "../core/backend.hpp"
#include "../core/philox.hpp"
#include "../core/views_of.hpp"
#include "kmeans_init.hpp"

namespace beacon::plan {

struct kmeans_progress {
  size_type restart;
  size_type iteration;
  double inertia;       ///< objective after this iteration's assignment (before the update)
  double center_shift;  ///< sum of squared centroid moves of this iteration
};

template <class T>
struct kmeans_options {
  size_type clusters = 8;
  kmeans_init init = kmeans_init::kmeans_plus_plus;
  std::vector<T> initial_centroids;  ///< clusters x d, row-major, for kmeans_init::given
  size_type max_iterations = 300;
  double tolerance = 1e-4;           ///< on the total centroid shift, relative to the mean feature variance (scikit-learn's rule)
  size_type restarts = 1;            ///< n_init: best inertia wins (restart r uses seed + r)
  std::uint64_t seed = 0;
  bool spherical = false;            ///< cosine k-means: points and centroids on the unit sphere
  size_type chunk_rows = 65536;      ///< rows per assignment / update chunk (bounded memory)
  bool track_inertia = true;         ///< compute the objective every iteration (one extra pass)
  std::function<void(const kmeans_progress&)> on_iteration;  ///< progress callback (optional)
};

template <class T>
struct kmeans_result {
  size_type clusters = 0, dim = 0;
  std::vector<index_type> labels;       ///< N
  std::vector<T> centroids;             ///< clusters x dim, row-major
  std::vector<double> distances;        ///< squared distance of each point to its centroid
  double inertia = 0;                   ///< sum of distances
  size_type iterations = 0;
  bool converged = false;
  std::uint64_t seed = 0;               ///< seed of the restart that won
  std::vector<double> inertia_history;  ///< objective after each assignment of the winning restart
  std::vector<T> initial_centroids;     ///< where the winning restart started
};

namespace detail {

/// Finite data whose squared distances stay finite in T: |x| < sqrt(max(T) / d) / 2, so that
/// d * (2 |x|)^2 (the largest squared distance between two points) and every squared norm fit.
/// Larger values would turn potentials and inertia into infinity and every point into a tie.
template <class T>
void check_data(const char* fn, const std::vector<T>& host_x, size_type n, size_type d) {
  const double limit = std::sqrt(static_cast<double>(std::numeric_limits<T>::max()) / static_cast<double>(std::max<size_type>(d, 1))) / 2;
  for (size_type i = 0; i < n * d; ++i) {
    const T v = host_x[static_cast<std::size_t>(i)];
    if (!std::isfinite(v))
      beacon::detail::fail(fn, "x", "finite values", beacon::detail::concat(v, " at row ", i / d, ", column ", i % d));
    if (std::abs(static_cast<double>(v)) >= limit)
      beacon::detail::fail(fn, "x", beacon::detail::concat("values of magnitude below ", limit, " (squared distances over ", d, " columns must stay finite)"),
                           beacon::detail::concat(v, " at row ", i / d, ", column ", i % d));
  }
}

/// The per-backend state of a Lloyd run (everything sized by the data lives on the backend).
template <backend B, class T>
struct lloyd_state {
  decltype(make_buffer<T>(std::declval<const B&>(), 0)) centroids, norms, sums, chunk, diff, row_values;
  decltype(make_buffer<index_type>(std::declval<const B&>(), 0)) labels, offsets, permutation, local_offsets;

  lloyd_state(const B& be, size_type n, size_type d, size_type k, size_type chunk_rows)
      : centroids(make_buffer<T>(be, k * d)), norms(make_buffer<T>(be, k)), sums(make_buffer<T>(be, k * d)),
        chunk(make_buffer<T>(be, chunk_rows * d)), diff(make_buffer<T>(be, chunk_rows * d)), row_values(make_buffer<T>(be, n)),
        labels(make_buffer<index_type>(be, n)), offsets(make_buffer<index_type>(be, k + 1)),
        permutation(make_buffer<index_type>(be, n)), local_offsets(make_buffer<index_type>(be, k + 1)) {}
};

/// Squared distance of every point to centroid labels[i] (host doubles), chunked on the backend,
/// brought to the host once.
template <backend B, class X, class T>
std::vector<double> point_distances(const B& be, matrix_view<X, typename B::memory_space> x, lloyd_state<B, T>& st, size_type k,
                                    size_type chunk_rows, bool spherical) {
  using space = typename B::memory_space;
  const size_type n = x.rows(), d = x.cols();
  std::vector<double> out(static_cast<std::size_t>(n));
  const auto centroids = matrix_view<const T, space>(st.centroids.matrix(k, d));
  for (size_type first = 0; first < n; first += chunk_rows) {
    const size_type m = std::min(chunk_rows, n - first);
    auto gathered = st.diff.matrix(chunk_rows, d).row_block(0, m);
    gather_rows(be, centroids, vector_view<const index_type, space>(st.labels.view().data() + first, m), gathered);
    auto points = st.chunk.matrix(chunk_rows, d).row_block(0, m);
    if (spherical) normalize_rows(be, x.row_block(first, m), points);
    else axpby(be, T(1), x.row_block(first, m), T(0), x.row_block(first, m), points);
    axpby(be, T(1), matrix_view<const T, space>(points), T(-1), matrix_view<const T, space>(gathered), gathered);
    auto values = vector_view<T, space>(st.row_values.view().data() + first, m);
    row_dot(be, matrix_view<const T, space>(gathered), matrix_view<const T, space>(gathered), values);
  }
  // One host round trip after every chunk is queued (none inside the chunk loop).
  const auto host = download(be, vector_view<const T, space>(st.row_values.view().data(), n));
  for (size_type i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = static_cast<double>(host[static_cast<std::size_t>(i)]);
  return out;
}

/// Label-ordered per-cluster sums (host, clusters x d) and counts, from the current labels.
template <backend B, class X, class T>
void cluster_sums(const B& be, matrix_view<X, typename B::memory_space> x, lloyd_state<B, T>& st, size_type k, size_type chunk_rows,
                  bool spherical, std::vector<double>& sums, std::vector<index_type>& counts) {
  using space = typename B::memory_space;
  const size_type n = x.rows(), d = x.cols();
  group_rows_by_key(be, vector_view<const index_type, space>(st.labels.view()), k, st.offsets.view(), st.permutation.view());
  const auto offsets = download(be, vector_view<const index_type, space>(st.offsets.view()));
  fill(be, T(0), st.sums.matrix(k, d));
  for (size_type first = 0; first < n; first += chunk_rows) {
    const size_type m = std::min(chunk_rows, n - first);
    auto rows = st.chunk.matrix(chunk_rows, d).row_block(0, m);
    gather_rows(be, x, vector_view<const index_type, space>(st.permutation.view().data() + first, m), rows);
    if (spherical) normalize_rows(be, matrix_view<const T, space>(rows), rows);
    // Clusters present in positions [first, first + m) form the contiguous range [g0, g1].
    const auto g0 = static_cast<size_type>(std::upper_bound(offsets.begin(), offsets.end(), static_cast<index_type>(first)) - offsets.begin()) - 1;
    const auto g1 = static_cast<size_type>(std::upper_bound(offsets.begin(), offsets.end(), static_cast<index_type>(first + m - 1)) - offsets.begin()) - 1;
    std::vector<index_type> local(static_cast<std::size_t>(g1 - g0 + 2));
    for (size_type g = g0; g <= g1 + 1; ++g)
      local[static_cast<std::size_t>(g - g0)] = static_cast<index_type>(
          std::clamp<size_type>(offsets[static_cast<std::size_t>(g)] - first, 0, m));
    auto local_view = vector_view<index_type, space>(st.local_offsets.view().data(), g1 - g0 + 2);
    upload(be, local, local_view);
    auto partial = st.diff.matrix(chunk_rows, d).row_block(0, g1 - g0 + 1);
    segment_sum_rows(be, matrix_view<const T, space>(rows), vector_view<const index_type, space>(local_view), partial);
    auto block = st.sums.matrix(k, d).row_block(g0, g1 - g0 + 1);
    axpby(be, T(1), matrix_view<const T, space>(block), T(1), matrix_view<const T, space>(partial), block);
  }
  const auto host_sums = download(be, vector_view<const T, space>(st.sums.view()));
  sums.assign(host_sums.begin(), host_sums.end());
  counts.resize(static_cast<std::size_t>(k));
  for (size_type g = 0; g < k; ++g) counts[static_cast<std::size_t>(g)] = offsets[static_cast<std::size_t>(g + 1)] - offsets[static_cast<std::size_t>(g)];
}

}  // namespace detail

/// k-means of the rows of x (N x d, in the backend's memory). See kmeans_options for the knobs.
/// Rejects k < 1, k > N, non-finite data and a given init of the wrong size.
/// What k-means (and the planner) needs from a backend.
template <class B, class T>
concept kmeans_backend = memory_primitives<B, T> && memory_primitives<B, index_type> && elementwise_primitives<B, T> &&
                         reduction_primitives<B, T> && gemm_primitives<B, T> && row_primitives<B, T>;

template <backend B, class X>
  requires kmeans_backend<B, std::remove_const_t<X>>
kmeans_result<std::remove_const_t<X>> kmeans(const B& be, matrix_view<X, typename B::memory_space> x,
                                             const kmeans_options<std::remove_const_t<X>>& opt) {
  using T = std::remove_const_t<X>;
  using space = typename B::memory_space;
  const char* fn = "kmeans";
  const size_type n = x.rows(), d = x.cols(), k = opt.clusters;
  if (k < 1) beacon::detail::fail(fn, "clusters", ">= 1", k);
  if (k > n) beacon::detail::fail(fn, "clusters", beacon::detail::concat("<= number of points (", n, ")"), k);
  if (d < 1) beacon::detail::fail<shape_error>(fn, "x", "at least one column", "0 columns");
  if (opt.max_iterations < 1) beacon::detail::fail(fn, "max_iterations", ">= 1", opt.max_iterations);
  if (opt.restarts < 1) beacon::detail::fail(fn, "restarts", ">= 1", opt.restarts);
  if (opt.chunk_rows < 1) beacon::detail::fail(fn, "chunk_rows", ">= 1", opt.chunk_rows);
  if (!(opt.tolerance >= 0.0)) beacon::detail::fail(fn, "tolerance", ">= 0", opt.tolerance);

  // One host copy of the data serves validation, initialisation and the tolerance scale.
  std::vector<T> host_x = beacon::download(be, x);
  detail::check_data(fn, host_x, n, d);
  if (opt.spherical)
    for (size_type i = 0; i < n; ++i) {
      double sq = 0;
      for (size_type j = 0; j < d; ++j) sq += double(host_x[static_cast<std::size_t>(i * d + j)]) * host_x[static_cast<std::size_t>(i * d + j)];
      const double inv = sq > 0 ? 1.0 / std::sqrt(sq) : 0.0;
      for (size_type j = 0; j < d; ++j) host_x[static_cast<std::size_t>(i * d + j)] = static_cast<T>(host_x[static_cast<std::size_t>(i * d + j)] * inv);
    }
  // scikit-learn: tol * mean over features of the per-feature variance.
  double mean_variance = 0;
  for (size_type j = 0; j < d; ++j) {
    double mean = 0, sq = 0;
    for (size_type i = 0; i < n; ++i) mean += host_x[static_cast<std::size_t>(i * d + j)];
    mean /= static_cast<double>(n);
    for (size_type i = 0; i < n; ++i) {
      const double v = host_x[static_cast<std::size_t>(i * d + j)] - mean;
      sq += v * v;
    }
    mean_variance += sq / static_cast<double>(n);
  }
  const double tol = opt.tolerance * mean_variance / static_cast<double>(d);

  const size_type chunk_rows = std::min(opt.chunk_rows, n);
  detail::lloyd_state<B, T> st(be, n, d, k, chunk_rows);
  kmeans_result<T> best;
  best.inertia = std::numeric_limits<double>::infinity();

  for (size_type restart = 0; restart < opt.restarts; ++restart) {
    const std::uint64_t seed = opt.seed + static_cast<std::uint64_t>(restart);
    std::vector<double> centers = initial_centroids(host_matrix<const T>(host_x.data(), n, d), k, opt.init, opt.initial_centroids, seed);
    kmeans_result<T> run;
    run.clusters = k;
    run.dim = d;
    run.seed = seed;
    run.initial_centroids.assign(centers.begin(), centers.end());
    std::vector<index_type> previous_labels;
    std::vector<double> sums;
    std::vector<index_type> counts;
    bool strict = false;
    auto upload_centers = [&] {
      const std::vector<T> c(centers.begin(), centers.end());
      beacon::upload(be, c, st.centroids.view());
      row_dot(be, matrix_view<const T, space>(st.centroids.matrix(k, d)), matrix_view<const T, space>(st.centroids.matrix(k, d)),
              st.norms.view());
    };
    auto assign = [&] {
      upload_centers();
      nearest_rows(be, x, matrix_view<const T, space>(st.centroids.matrix(k, d)), vector_view<const T, space>(st.norms.view()),
                   st.labels.view(), chunk_rows);
    };
    for (size_type it = 0; it < opt.max_iterations; ++it) {
      assign();
      double inertia = std::numeric_limits<double>::quiet_NaN();
      std::vector<double> dist;
      if (opt.track_inertia) {
        dist = detail::point_distances(be, x, st, k, chunk_rows, opt.spherical);
        inertia = std::accumulate(dist.begin(), dist.end(), 0.0);
        run.inertia_history.push_back(inertia);
      }
      detail::cluster_sums(be, x, st, k, chunk_rows, opt.spherical, sums, counts);
      const auto labels = beacon::download(be, vector_view<const index_type, space>(st.labels.view()));
      // Empty clusters take the points farthest from their centres (scikit-learn's repair).
      std::vector<size_type> empty;
      for (size_type g = 0; g < k; ++g)
        if (counts[static_cast<std::size_t>(g)] == 0) empty.push_back(g);
      if (!empty.empty()) {
        if (dist.empty()) dist = detail::point_distances(be, x, st, k, chunk_rows, opt.spherical);
        std::vector<index_type> order(static_cast<std::size_t>(n));
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](index_type a, index_type b) {
          return dist[static_cast<std::size_t>(a)] > dist[static_cast<std::size_t>(b)];
        });
        for (std::size_t e = 0; e < empty.size(); ++e) {
          const auto far = static_cast<size_type>(order[e]);
          const auto donor = static_cast<size_type>(labels[static_cast<std::size_t>(far)]);
          for (size_type j = 0; j < d; ++j) {
            const double v = host_x[static_cast<std::size_t>(far * d + j)];
            sums[static_cast<std::size_t>(donor * d + j)] -= v;
            sums[static_cast<std::size_t>(empty[e] * d + j)] = v;
          }
          --counts[static_cast<std::size_t>(donor)];
          counts[static_cast<std::size_t>(empty[e])] = 1;
        }
      }
      double shift = 0;
      for (size_type g = 0; g < k; ++g) {
        const auto c = counts[static_cast<std::size_t>(g)];
        double norm = 0;
        for (size_type j = 0; j < d; ++j) {
          const double v = c > 0 ? sums[static_cast<std::size_t>(g * d + j)] / static_cast<double>(c) : centers[static_cast<std::size_t>(g * d + j)];
          sums[static_cast<std::size_t>(g * d + j)] = v;
          norm += v * v;
        }
        if (opt.spherical && norm > 0)
          for (size_type j = 0; j < d; ++j) sums[static_cast<std::size_t>(g * d + j)] /= std::sqrt(norm);
        for (size_type j = 0; j < d; ++j) {
          const double delta = sums[static_cast<std::size_t>(g * d + j)] - centers[static_cast<std::size_t>(g * d + j)];
          shift += delta * delta;
        }
      }
      centers.swap(sums);
      run.iterations = it + 1;
      if (opt.on_iteration) opt.on_iteration(kmeans_progress{restart, it, inertia, shift});
      if (labels == previous_labels) {
        strict = true;
        run.converged = true;
        break;
      }
      if (shift <= tol) {
        run.converged = true;
        break;
      }
      previous_labels = labels;
    }
    // Final assignment so labels match the returned centroids (unless labels already converged).
    if (!strict) assign();
    else upload_centers();
    run.labels = beacon::download(be, vector_view<const index_type, space>(st.labels.view()));
    run.distances = detail::point_distances(be, x, st, k, chunk_rows, opt.spherical);
    run.inertia = std::accumulate(run.distances.begin(), run.distances.end(), 0.0);
    run.centroids.assign(centers.begin(), centers.end());
    if (run.inertia < best.inertia) best = std::move(run);
  }
  return best;
}

/// k-means of a row-major Eigen matrix (or Map, Block, Ref) as held, on a host backend, no copy.
template <backend B, class M>
  requires(!beacon::detail::is_matrix_view_v<std::remove_cvref_t<M>>)
auto kmeans(const B& be, const M& x, const kmeans_options<matrix_element_t<const M>>& opt) {
  static_assert(matrix_like<const M&>,
                "beacon::plan::kmeans: argument 'x' expected an N x d matrix (matrix_view, a row-major Eigen matrix, or beacon::matrix_of(vector, N, d))");
  return kmeans(be, matrix_of(x), opt);
}

}  // namespace beacon::plan
