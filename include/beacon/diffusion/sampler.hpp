// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reverse steps: the posterior q(x_{k-1} | x_k, x0), DDPM with the reference's "fixed large"
// variance, DDIM with eta (correct strided alpha_bar_{k-gap} by default, the DiffuSeq quirk
// alpha_bar_{k-1} behind a flag), the visited index sets, and source re-anchoring.
//
// Every step is linear in (x0_hat, x_k) plus fresh noise, so it is computed as per-row coefficients
// (host, double) and one backend pass: out = a * x0_hat + b * x_k + c * z (row_axpbypcz_noise).

#include <cmath>
#include <vector>

#include "../core/backend.hpp"
#include "../backend/checks.hpp"
#include "../backend/contract.hpp"
#include "../core/philox.hpp"
#include "../core/views_of.hpp"
#include "../core/workspace.hpp"
#include "entropy_schedule.hpp"
#include "schedule.hpp"

namespace beacon::diffusion {

/// Coefficients of one reverse step for one token: x_out = a * x0_hat + b * x_k + c * z.
struct reverse_coefficients {
  double a;
  double b;
  double c;
};

/// The visited model-call indices of a DDIM loop with stride `gap`, as the reference builds them:
/// reversed(range(T))[::gap] = T-1, T-1-gap, ... (the last is (T-1) mod gap, not 0 unless gap | T-1).
inline std::vector<size_type> ddim_timesteps(size_type steps, size_type gap) {
  if (steps < 1) beacon::detail::fail("ddim_timesteps", "steps", ">= 1", steps);
  if (gap < 1 || gap > steps) beacon::detail::fail("ddim_timesteps", "gap", beacon::detail::concat("in [1, ", steps, "]"), gap);
  std::vector<size_type> ks;
  for (size_type k = steps - 1; k >= 0; k -= gap) ks.push_back(k);
  return ks;
}

/// DDPM step coefficients from the posterior at k with the reference's fixed-large variance
/// ([pv_1, beta_1, ..., beta_{T-1}]); no noise at k = 0.
inline reverse_coefficients ddpm_coefficients(const schedule_tables& s, size_type k) {
  if (k < 0 || k >= s.steps()) beacon::detail::fail("ddpm_coefficients", "k", beacon::detail::concat("in [0, ", s.steps(), ")"), k);
  const auto i = static_cast<std::size_t>(k);
  return {s.posterior_mean_coef1[i], s.posterior_mean_coef2[i], k > 0 ? std::sqrt(s.fixed_large_variance(k)) : 0.0};
}

/// The same for a token of the entropy-aware schedule (fixed-large variance per token).
inline reverse_coefficients ddpm_coefficients(const info_schedule& s, size_type k, double e) {
  const step_coefficients c = s.coefficients(k, e);
  double var = c.beta;
  if (k == 0) var = s.steps() > 1 ? s.coefficients(1, e).posterior_variance : c.beta;
  return {c.coef1, c.coef2, k > 0 ? std::sqrt(var) : 0.0};
}

struct ddim_options {
  double eta = 0.0;                ///< 0 = deterministic DDIM
  bool reference_quirk = false;    ///< use alpha_bar_{k-1} instead of alpha_bar_{k-gap} (DiffuSeq's loop)
  double alpha_bar_floor = 1e-30;  ///< guards sqrt(1/alpha_bar) for tokens whose alpha_bar underflowed to 0
};

/// DDIM update from model-call index k to k_prev (< 0 means "past the start": alpha_bar_prev = 1),
/// written as coefficients of (x0_hat, x_k, z); alpha_bar values come from any schedule.
inline reverse_coefficients ddim_coefficients_from(double alpha_bar, double alpha_bar_prev, bool add_noise,
                                                   const ddim_options& opt) {
  if (1.0 - alpha_bar == 0.0) return {1.0, 0.0, 0.0};  // still exactly clean: x0_hat is the answer
  const double ab = std::max(alpha_bar, opt.alpha_bar_floor);
  const double ab_prev = alpha_bar_prev;
  const double sigma = opt.eta * std::sqrt((1.0 - ab_prev) / (1.0 - ab)) * std::sqrt(std::max(0.0, 1.0 - ab / ab_prev));
  const double d = std::sqrt(1.0 / ab - 1.0);  // eps_hat = (sqrt(1/ab) x_k - x0_hat) / d
  const double s = std::sqrt(std::max(0.0, 1.0 - ab_prev - sigma * sigma));
  return {std::sqrt(ab_prev) - s / d, s * std::sqrt(1.0 / ab) / d, add_noise ? sigma : 0.0};
}

/// DDIM step for a scalar schedule at model-call index k of a loop with stride gap.
inline reverse_coefficients ddim_coefficients(const schedule_tables& s, size_type k, size_type gap, const ddim_options& opt = {}) {
  if (k < 0 || k >= s.steps()) beacon::detail::fail("ddim_coefficients", "k", beacon::detail::concat("in [0, ", s.steps(), ")"), k);
  if (gap < 1) beacon::detail::fail("ddim_coefficients", "gap", ">= 1", gap);
  const size_type prev = opt.reference_quirk ? k - 1 : k - gap;
  const double ab_prev = prev < 0 ? 1.0 : s.alphas_cumprod[static_cast<std::size_t>(prev)];
  return ddim_coefficients_from(s.alphas_cumprod[static_cast<std::size_t>(k)], ab_prev, k > 0, opt);
}

/// DDIM step for a token of the entropy-aware schedule.
inline reverse_coefficients ddim_coefficients(const info_schedule& s, size_type k, size_type gap, double e,
                                              const ddim_options& opt = {}) {
  if (gap < 1) beacon::detail::fail("ddim_coefficients", "gap", ">= 1", gap);
  const size_type prev = opt.reference_quirk ? k - 1 : k - gap;
  return ddim_coefficients_from(s.alpha_bar(k, e), prev < 0 ? 1.0 : s.alpha_bar(prev, e), k > 0, opt);
}

/// Per-row reverse coefficients laid out for the backend pass (rows = tokens).
template <class T>
struct reverse_step_rows {
  std::vector<T> a, b, c;
  void push(const reverse_coefficients& r) {
    a.push_back(static_cast<T>(r.a));
    b.push_back(static_cast<T>(r.b));
    c.push_back(static_cast<T>(r.c));
  }
};

/// One reverse step on the backend: x_out(r) = a[r] x0_hat(r) + b[r] x_k(r) + c[r] z(r * D + j).
template <backend B, class A, class X0, class BB, class XK, class C, class T>
  requires random_primitives<B, T>
void reverse_step(const B& be, vector_view<A, typename B::memory_space> a, matrix_view<X0, typename B::memory_space> x0_hat,
                  vector_view<BB, typename B::memory_space> b, matrix_view<XK, typename B::memory_space> x_k,
                  vector_view<C, typename B::memory_space> c, philox_stream noise, matrix_view<T, typename B::memory_space> x_out) {
  row_axpbypcz_noise(be, a, x0_hat, b, x_k, c, noise, x_out);
}

/// reverse_step on the host with what the caller holds (std::vector / std::span / Eigen
/// coefficients, row-major Eigen matrices or views; no copies). Coefficients must have x_out's
/// element type (reverse_step_rows<T> gives them).
template <backend B, class A, class X0, class BB, class XK, class C, class Out>
  requires(!(beacon::detail::is_view_v<A> && beacon::detail::is_view_v<X0> && beacon::detail::is_view_v<BB> && beacon::detail::is_view_v<XK> && beacon::detail::is_view_v<C> &&
             beacon::detail::is_view_v<Out>))
void reverse_step(const B& be, const A& a, const X0& x0_hat, const BB& b, const XK& x_k, const C& c, philox_stream noise, Out&& x_out) {
  static_assert(std::is_same_v<typename B::memory_space, host_space>,
                "beacon::diffusion::reverse_step: std::vector and Eigen arguments live on the host; on a device backend pass device views");
  static_assert(matrix_like<Out&> && !std::is_const_v<std::remove_reference_t<Out>>,
                "beacon::diffusion::reverse_step: argument 'x_out' expected a writable matrix (matrix_view<float or double>, a row-major Eigen matrix)");
  using T = matrix_element_t<std::remove_reference_t<Out>>;
  static_assert(is_matrix_of<X0, T>() && is_matrix_of<XK, T>(),
                "beacon::diffusion::reverse_step: arguments 'x0_hat' and 'x_k' expected matrices of x_out's element type (float with float, double with double)");
  static_assert(is_vector_of<A, T>() && is_vector_of<BB, T>() && is_vector_of<C, T>(),
                "beacon::diffusion::reverse_step: arguments 'a', 'b', 'c' expected contiguous ranges of x_out's element type (reverse_step_rows<T>; "
                "beacon::cast_elements<T> converts others)");
  reverse_step(be, vector_view<const T, host_space>(vector_of(a)), matrix_view<const T, host_space>(matrix_of(x0_hat)),
               vector_view<const T, host_space>(vector_of(b)), matrix_view<const T, host_space>(matrix_of(x_k)),
               vector_view<const T, host_space>(vector_of(c)), noise, matrix_of(x_out));
}

/// Scratch bytes reanchor_source needs for n source rows of width d.
template <class T>
std::size_t reanchor_source_workspace_bytes(size_type n, size_type d) {
  return workspace_layout().template add<T>(n * d).bytes();
}

/// Source re-anchoring after each step: rows listed in `source_rows` (mask = 0 positions) are
/// reset to the anchor (their clean embeddings): x(r) = anchor(r) for r in source_rows. Scratch
/// (reanchor_source_workspace_bytes<T>(n, d)) from `workspace`.
template <backend B, class An, class I, class T>
  requires row_primitives<B, T>
void reanchor_source(const B& be, matrix_view<An, space_of<B>> anchor, vector_view<I, space_of<B>> source_rows,
                     matrix_view<T, space_of<B>> x, workspace_arena<space_of<B>>& workspace) {
  beacon::detail::require_same_shape("reanchor_source", "x", anchor, x);
  const size_type n = source_rows.size();
  auto picked = workspace.template take<T>(n * x.cols()).as_matrix(n, x.cols());
  gather_rows(be, anchor, source_rows, picked);
  scatter_rows(be, matrix_view<const T, space_of<B>>(picked), source_rows, x);
}

/// As above with scratch from the backend's own arena (be.scratch()).
template <backend B, class An, class I, class T>
  requires row_primitives<B, T> && memory_primitives<B, T>
void reanchor_source(const B& be, matrix_view<An, space_of<B>> anchor, vector_view<I, space_of<B>> source_rows,
                     matrix_view<T, space_of<B>> x) {
  auto workspace = be.scratch(reanchor_source_workspace_bytes<T>(source_rows.size(), x.cols()));
  reanchor_source(be, anchor, source_rows, x, workspace);
}

}  // namespace beacon::diffusion
