// SPDX-License-Identifier: Apache-2.0
#pragma once
// Semantic distance between two vectors (spec semantic_peft.md §2.2c):
//   d(u, v) = 1 - cos(u, v),  cos = u.v / (max(|u|, eps) max(|v|, eps))        (per_norm, default)
//                             cos = u.v / max(|u| |v|, eps)                     (product)
// range [0, 2]; a zero vector gives cos = 0, d = 1 (never NaN). `euclidean` (|u - v|) is the
// unbounded ablation. The gradient w.r.t. u is exact for the chosen clamp, and defined as 0 where
// |u| < eps (spec T9; PyTorch versions differ there).

#include <cmath>

#include "../core/config.hpp"
#include "../core/error.hpp"

namespace beacon::semantic {

enum class distance_kind { cosine, euclidean };
enum class cosine_clamp { per_norm, product };

struct distance_options {
  distance_kind kind = distance_kind::cosine;
  cosine_clamp clamp = cosine_clamp::per_norm;
  double eps = 1e-8;
};

namespace detail {
/// u.v, |u|^2, |v|^2 and |u - v|^2 in one pass, in double.
struct distance_moments {
  double dot = 0, uu = 0, vv = 0, diff2 = 0;
};
template <class U, class V>
distance_moments moments(const U* u, const V* v, size_type n) {
  distance_moments m;
  for (size_type j = 0; j < n; ++j) {
    const double a = static_cast<double>(u[j]), b = static_cast<double>(v[j]);
    m.dot += a * b;
    m.uu += a * a;
    m.vv += b * b;
    m.diff2 += (a - b) * (a - b);
  }
  return m;
}
}  // namespace detail

/// d(u, v) and its gradient as scalars: dd/du_j = cu u_j + cv v_j.
struct distance_terms {
  double cos = 0;  ///< cosine kinds only
  double d = 0;
  double cu = 0, cv = 0;
};

/// The distance and gradient scalars from the moments (host and device: the CUDA path accumulates
/// the moments in its own order, then applies exactly this arithmetic).
BEACON_HD distance_terms distance_from_moments(double dot, double uu, double vv, double diff2, const distance_options& o) {
  distance_terms t;
  if (o.kind == distance_kind::euclidean) {
    t.d = std::sqrt(diff2);
    if (t.d > 0) {  // d(u - v)/|u - v|; 0 where u = v
      t.cu = 1.0 / t.d;
      t.cv = -1.0 / t.d;
    }
    return t;
  }
  const double nu = std::sqrt(uu), nv = std::sqrt(vv);
  const double denom = o.clamp == cosine_clamp::per_norm ? (nu > o.eps ? nu : o.eps) * (nv > o.eps ? nv : o.eps)
                                                          : (nu * nv > o.eps ? nu * nv : o.eps);
  t.cos = dot / denom;
  t.d = 1.0 - t.cos;
  // d cos / du = v / denom - [clamp inactive] cos u / |u|^2; no direction to move along when |u| < eps.
  if (nu < o.eps) return t;
  t.cv = -1.0 / denom;
  const bool clamp_inactive = o.clamp == cosine_clamp::per_norm || nu * nv >= o.eps;
  if (clamp_inactive) t.cu = t.cos / (nu * nu);
  return t;
}

/// cos(u, v) with the chosen clamp, accumulated in double.
template <class U, class V>
double cosine_similarity(const U* u, const V* v, size_type n, const distance_options& o = {}) {
  const auto m = detail::moments(u, v, n);
  distance_options cosine = o;
  cosine.kind = distance_kind::cosine;
  return distance_from_moments(m.dot, m.uu, m.vv, m.diff2, cosine).cos;
}

/// d(u, v) for the chosen kind.
template <class U, class V>
double semantic_distance(const U* u, const V* v, size_type n, const distance_options& o = {}) {
  const auto m = detail::moments(u, v, n);
  return distance_from_moments(m.dot, m.uu, m.vv, m.diff2, o).d;
}

/// grad[j] = d d(u, v) / d u_j (double); returns d.
template <class U, class V>
double semantic_distance_gradient(const U* u, const V* v, size_type n, double* grad, const distance_options& o = {}) {
  const auto m = detail::moments(u, v, n);
  const distance_terms t = distance_from_moments(m.dot, m.uu, m.vv, m.diff2, o);
  for (size_type j = 0; j < n; ++j) grad[j] = t.cu * static_cast<double>(u[j]) + t.cv * static_cast<double>(v[j]);
  return t.d;
}

}  // namespace beacon::semantic
