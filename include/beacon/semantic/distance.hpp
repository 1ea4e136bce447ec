#pragma once
// Semantic distance between two vectors (spec semantic_peft.md §2.2c):
//   d(u, v) = 1 - cos(u, v),  cos = u.v / (max(|u|, eps) max(|v|, eps))        (per_norm, default)
//                             cos = u.v / max(|u| |v|, eps)                     (product)
// range [0, 2]; a zero vector gives cos = 0, d = 1 (never NaN). `euclidean` (|u - v|) is the
// unbounded ablation. The gradient w.r.t. u is exact for the chosen clamp, and defined as 0 where
// |u| < eps (spec T9; PyTorch versions differ there).

#include <algorithm>
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

/// cos(u, v) with the chosen clamp, accumulated in double.
namespace detail {
/// u.v, |u|^2 and |v|^2 in one pass, in double.
template <class U, class V>
void dot_and_norms(const U* u, const V* v, size_type n, double& dot, double& uu, double& vv) {
  dot = uu = vv = 0;
  for (size_type j = 0; j < n; ++j) {
    dot += static_cast<double>(u[j]) * static_cast<double>(v[j]);
    uu += static_cast<double>(u[j]) * static_cast<double>(u[j]);
    vv += static_cast<double>(v[j]) * static_cast<double>(v[j]);
  }
}
}  // namespace detail

template <class U, class V>
double cosine_similarity(const U* u, const V* v, size_type n, const distance_options& o = {}) {
  double dot, uu, vv;
  detail::dot_and_norms(u, v, n, dot, uu, vv);
  const double nu = std::sqrt(uu), nv = std::sqrt(vv);
  const double denom = o.clamp == cosine_clamp::per_norm ? std::max(nu, o.eps) * std::max(nv, o.eps) : std::max(nu * nv, o.eps);
  return dot / denom;
}

/// d(u, v) for the chosen kind.
template <class U, class V>
double semantic_distance(const U* u, const V* v, size_type n, const distance_options& o = {}) {
  if (o.kind == distance_kind::euclidean) {
    double s = 0;
    for (size_type j = 0; j < n; ++j) {
      const double t = static_cast<double>(u[j]) - static_cast<double>(v[j]);
      s += t * t;
    }
    return std::sqrt(s);
  }
  return 1.0 - cosine_similarity(u, v, n, o);
}

/// grad[j] = d d(u, v) / d u_j (double); returns d.
template <class U, class V>
double semantic_distance_gradient(const U* u, const V* v, size_type n, double* grad, const distance_options& o = {}) {
  if (o.kind == distance_kind::euclidean) {
    const double d = semantic_distance(u, v, n, o);
    for (size_type j = 0; j < n; ++j) grad[j] = d > 0 ? (static_cast<double>(u[j]) - static_cast<double>(v[j])) / d : 0.0;
    return d;
  }
  double dot, uu, vv;
  detail::dot_and_norms(u, v, n, dot, uu, vv);
  const double nu = std::sqrt(uu), nv = std::sqrt(vv);
  double cos = 0;
  if (nu < o.eps) {  // no direction to move along: gradient 0 by definition
    for (size_type j = 0; j < n; ++j) grad[j] = 0.0;
    return 1.0 - cosine_similarity(u, v, n, o);
  }
  if (o.clamp == cosine_clamp::per_norm) {
    const double au = std::max(nu, o.eps), av = std::max(nv, o.eps);
    cos = dot / (au * av);
    // d cos / d u = v / (au av) - [|u| >= eps] cos u / |u|^2
    for (size_type j = 0; j < n; ++j) {
      const double g = static_cast<double>(v[j]) / (au * av) - cos * static_cast<double>(u[j]) / (nu * nu);
      grad[j] = -g;
    }
  } else {
    const double denom = std::max(nu * nv, o.eps);
    cos = dot / denom;
    for (size_type j = 0; j < n; ++j) {
      double g = static_cast<double>(v[j]) / denom;
      if (nu * nv >= o.eps) g -= cos * static_cast<double>(u[j]) / (nu * nu);
      grad[j] = -g;
    }
  }
  return 1.0 - cos;
}

}  // namespace beacon::semantic
