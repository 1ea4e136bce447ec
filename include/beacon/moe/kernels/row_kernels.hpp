// SPDX-License-Identifier: Apache-2.0
#pragma once
// The MoE adaptor's own kernels, written once as BEACON_HD functors and run by the backend's
// generic for_each_index / for_each_element (backend/cpu/for_each.hpp, backend/cuda/for_each.cuh):
// one implementation for every backend, and a new backend needs no MoE code. Each functor states
// its grid; every output element is written by exactly one call, in a fixed order of additions,
// so results are deterministic (no atomics).
//
// Inputs come from the adaptor itself (ids < experts, positions in range), so the functors do not
// re-validate them; the public entry points check shapes before launching.

#include <cmath>

#include "../../core/config.hpp"
#include "../../core/view.hpp"
#include "../token_routes.hpp"

namespace beacon::moe::kernels {

template <class T>
BEACON_HD T max_of(T a, T b) {
  return a > b ? a : b;
}

// ---- dispatch ---------------------------------------------------------------------------------

/// Grid: tokens * k. keys[t * k + j] = ids(row(t), j), or `experts` (the "no expert" group) for -1.
template <class S>
struct dispatch_key {
  matrix_view<const index_type, S> ids;
  vector_view<index_type, S> keys;
  size_type k;
  token_routes<S> routes;
  size_type experts;
  BEACON_HD void operator()(size_type p) const {
    const index_type e = ids(routes.row(p / k), p % k);
    keys[p] = (e < 0 || e >= experts) ? static_cast<index_type>(experts) : e;
  }
};

/// Grid: pairs. From the stable grouping (permutation, offsets[experts] = routed pairs): pair
/// lists of the routed pairs (-1 past them) and each pair's grouped row (-1 for an empty choice).
template <class S>
struct dispatch_pair {
  vector_view<const index_type, S> permutation;
  const index_type* routed;  ///< offsets[experts], read where the functor runs
  size_type k;
  vector_view<index_type, S> pair_token, pair_choice;
  matrix_view<index_type, S> position;
  BEACON_HD void operator()(size_type q) const {
    const index_type p = permutation[q];
    const bool valid = q < *routed;
    pair_token[q] = valid ? static_cast<index_type>(p / k) : index_type{-1};
    pair_choice[q] = valid ? static_cast<index_type>(p % k) : index_type{-1};
    position(p / k, p % k) = valid ? static_cast<index_type>(q) : index_type{-1};
  }
};

// ---- combine and its backward -------------------------------------------------------------------

/// Grid: tokens x d. out(t, c) = sum_j lambda * gates(row(t), j) * y(position(t, j), c), j in order.
template <class T, class S>
struct combine {
  matrix_view<const T, S> y;
  matrix_view<const index_type, S> position;
  matrix_view<const T, S> gates;
  token_routes<S> routes;
  T lambda;
  matrix_view<T, S> out;
  BEACON_HD void operator()(size_type t, size_type c) const {
    T acc = T(0);
    const size_type r = routes.row(t);
    for (size_type j = 0; j < position.cols(); ++j) {
      const index_type q = position(t, j);
      if (q >= 0) acc += lambda * gates(r, j) * y(q, c);
    }
    out(t, c) = acc;
  }
};

/// Grid: grouped rows x d. dst(q, c) = lambda * gates(row(t), j) * src(t, c), (t, j) = pair q.
template <class T, class S>
struct gather_gated {
  matrix_view<const T, S> src;
  vector_view<const index_type, S> pair_token, pair_choice;
  matrix_view<const T, S> gates;
  token_routes<S> routes;
  T lambda;
  matrix_view<T, S> dst;
  BEACON_HD void operator()(size_type q, size_type c) const {
    const index_type t = pair_token[q];
    dst(q, c) = lambda * gates(routes.row(t), pair_choice[q]) * src(t, c);
  }
};

/// Grid: routing rows * k. dgates(r, j) = sum over the tokens t of row r, in order, of
/// lambda * pair_dot[position(t, j)] (pair_dot[q] = <dout(t), y(q)>, from the backend's row_dot).
template <class T, class S>
struct sum_pair_dots {
  vector_view<const T, S> pair_dot;
  matrix_view<const index_type, S> position;
  token_routes<S> routes;
  T lambda;
  matrix_view<T, S> dgates;
  BEACON_HD void operator()(size_type p) const {
    const size_type r = p / dgates.cols(), j = p % dgates.cols();
    T acc = T(0);
    for (size_type t = routes.first(r); t < routes.end(r); ++t) {
      const index_type q = position(t, j);
      if (q >= 0) acc += lambda * pair_dot[q];
    }
    dgates(r, j) = acc;
  }
};

// ---- routing ------------------------------------------------------------------------------------

/// Grid: rows. The null route: a row whose best score is below `threshold` (NaN never passes) gets
/// no expert (ids -1, gates 0).
template <class T, class S>
struct null_route {
  matrix_view<const T, S> scores;
  T threshold;
  matrix_view<T, S> gates;
  matrix_view<index_type, S> ids;
  BEACON_HD void operator()(size_type r) const {
    T best = scores(r, 0);
    for (size_type c = 1; c < scores.cols(); ++c) best = max_of(best, scores(r, c));
    if (!(best < threshold)) return;
    for (size_type j = 0; j < gates.cols(); ++j) {
      gates(r, j) = T(0);
      ids(r, j) = -1;
    }
  }
};

/// Grid: rows. Forced routing of an editing step's own batch: the first choice becomes `expert`
/// with gate `probs(r, expert)` (or 1 when `unit_gate`); the later choices get gate 0 and, when
/// `drop_rest`, no expert.
template <class T, class S>
struct force_route {
  matrix_view<const T, S> probs;
  index_type expert;
  bool unit_gate, drop_rest;
  matrix_view<T, S> gates;
  matrix_view<index_type, S> ids;
  BEACON_HD void operator()(size_type r) const {
    ids(r, 0) = expert;
    gates(r, 0) = unit_gate ? T(1) : probs(r, expert);
    for (size_type j = 1; j < gates.cols(); ++j) {
      gates(r, j) = T(0);
      if (drop_rest) ids(r, j) = -1;
    }
  }
};

/// Grid: rows. dL/dscores from dL/dgates through the gate normalisation and the softmax.
///  softmax over all experts: dp = scatter of dgates to the chosen ids; ds = p * (dp - <dp, p>).
///  renormalised top-k: the gates are a softmax over the chosen scores; they are recomputed from
///  the scores (max-subtracted), never as p_j / sum p, which underflows to 0/0 when forced routing
///  picks an expert of negligible probability. Null-routed rows get a zero gradient.
template <class T, class S>
struct score_gradient {
  matrix_view<const T, S> scores, probs;
  matrix_view<const index_type, S> ids;
  matrix_view<const T, S> dgates;
  bool renormalized;
  matrix_view<T, S> ds;
  BEACON_HD void operator()(size_type r) const {
    const size_type e = ds.cols(), k = ids.cols();
    for (size_type c = 0; c < e; ++c) ds(r, c) = T(0);
    if (!renormalized) {
      T inner = T(0);
      for (size_type j = 0; j < k; ++j)
        if (ids(r, j) >= 0) inner += dgates(r, j) * probs(r, ids(r, j));
      for (size_type c = 0; c < e; ++c) ds(r, c) = -probs(r, c) * inner;
      for (size_type j = 0; j < k; ++j)
        if (ids(r, j) >= 0) ds(r, ids(r, j)) += probs(r, ids(r, j)) * dgates(r, j);
      return;
    }
    bool any = false;
    T top = T(0);
    for (size_type j = 0; j < k; ++j)
      if (ids(r, j) >= 0) {
        top = any ? max_of(top, scores(r, ids(r, j))) : scores(r, ids(r, j));
        any = true;
      }
    if (!any) return;
    T sum = T(0), inner = T(0);
    for (size_type j = 0; j < k; ++j)
      if (ids(r, j) >= 0) sum += std::exp(scores(r, ids(r, j)) - top);
    for (size_type j = 0; j < k; ++j)
      if (ids(r, j) >= 0) inner += std::exp(scores(r, ids(r, j)) - top) / sum * dgates(r, j);
    for (size_type j = 0; j < k; ++j)
      if (ids(r, j) >= 0) {
        const T g = std::exp(scores(r, ids(r, j)) - top) / sum;
        ds(r, ids(r, j)) += g * (dgates(r, j) - inner);
      }
  }
};

/// Grid: rows. The load-balancing loss's gradient (f held constant): ds(r, i) += p(r, i) *
/// (dp[i] - <dp, p(r, :)>), dp[i] = weight * E * f_i / N.
template <class T, class S>
struct balance_gradient {
  matrix_view<const T, S> probs;
  vector_view<const T, S> dp;
  matrix_view<T, S> ds;
  BEACON_HD void operator()(size_type r) const {
    T inner = T(0);
    for (size_type i = 0; i < ds.cols(); ++i) inner += dp[i] * probs(r, i);
    for (size_type i = 0; i < ds.cols(); ++i) ds(r, i) += probs(r, i) * (dp[i] - inner);
  }
};

/// Grid: rows x experts. scores(b, e) = the largest cos(b, a) over the anchors a of expert e
/// (anchors grouped by expert: [offsets[e], offsets[e+1])), or -2 when e has none.
template <class T, class S>
struct best_anchor {
  matrix_view<const T, S> cos;
  vector_view<const index_type, S> offsets;
  matrix_view<T, S> scores;
  BEACON_HD void operator()(size_type b, size_type e) const {
    T best = T(-2);
    for (index_type a = offsets[e]; a < offsets[e + 1]; ++a) best = max_of(best, cos(b, a));
    scores(b, e) = best;
  }
};

// ---- small tensor maps ----------------------------------------------------------------------------

/// Grid: rows. norm[r] = max(||x(r, :)||, floor), unit(r, :) = x(r, :) / norm[r] (unit may alias x).
/// floor = 0 keeps an all-zero row zero.
template <class T, class S>
struct unit_rows {
  matrix_view<const T, S> x;
  T floor;
  matrix_view<T, S> unit;
  vector_view<T, S> norm;  ///< may be empty
  BEACON_HD void operator()(size_type r) const {
    T sq = T(0);
    for (size_type c = 0; c < x.cols(); ++c) sq += x(r, c) * x(r, c);
    T n = std::sqrt(sq);
    n = max_of(n, floor);
    const T inv = n > T(0) ? T(1) / n : T(0);
    for (size_type c = 0; c < x.cols(); ++c) unit(r, c) = x(r, c) * inv;
    if (norm.size() > 0) norm[r] = n;
  }
};

/// Grid: rows x cols. out(r, c) = x(r, c) - row[c] (out may alias x).
template <class T, class S>
struct subtract_row {
  matrix_view<const T, S> x;
  vector_view<const T, S> row;
  matrix_view<T, S> out;
  BEACON_HD void operator()(size_type r, size_type c) const { out(r, c) = x(r, c) - row[c]; }
};

/// Grid: rows x cols. dst(r, c) = alpha * src(r, c) (any leading dimensions).
template <class T, class S>
struct scaled_copy {
  matrix_view<const T, S> src;
  T alpha;
  matrix_view<T, S> dst;
  BEACON_HD void operator()(size_type r, size_type c) const { dst(r, c) = alpha * src(r, c); }
};

/// Grid: rows x cols. The cosine score's gradient with respect to the un-normalised rows:
/// d(r, c) += (g(r, c) - dot[r] * unit(r, c)) / norm[r], where g = ds-weighted sum of the other
/// side's unit rows and dot[r] = sum_i ds(r, i) s(r, i).
template <class T, class S>
struct cosine_backward {
  matrix_view<const T, S> g, unit;
  vector_view<const T, S> dot, norm;
  matrix_view<T, S> d;
  bool accumulate;
  BEACON_HD void operator()(size_type r, size_type c) const {
    const T v = norm[r] > T(0) ? (g(r, c) - dot[r] * unit(r, c)) / norm[r] : T(0);
    d(r, c) = accumulate ? d(r, c) + v : v;
  }
};

/// Grid: columns of a. out[c] = sum_r a(r, c) * b(r, c), rows in order.
template <class T, class S>
struct column_dot {
  matrix_view<const T, S> a, b;
  vector_view<T, S> out;
  BEACON_HD void operator()(size_type c) const {
    T acc = T(0);
    for (size_type r = 0; r < a.rows(); ++r) acc += a(r, c) * b(r, c);
    out[c] = acc;
  }
};

/// Grid: rows. Replay's cross-entropy gradient: ds(r, :) = scale * (p(r, :) - onehot(label[r])),
/// and picked[r] = p(r, label[r]).
template <class T, class S>
struct replay_gradient {
  matrix_view<const T, S> probs;
  vector_view<const index_type, S> labels;
  T scale;
  matrix_view<T, S> ds;
  vector_view<T, S> picked;
  BEACON_HD void operator()(size_type r) const {
    const index_type l = labels[r];
    for (size_type c = 0; c < ds.cols(); ++c) ds(r, c) = scale * (probs(r, c) - (c == l ? T(1) : T(0)));
    picked[r] = probs(r, l);
  }
};

}  // namespace beacon::moe::kernels
