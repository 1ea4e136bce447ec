// SPDX-License-Identifier: Apache-2.0
#pragma once
// Scalar noise schedules and their buffers, exactly as the DiffuSeq reference (the code InfoDiffusion
// ships) defines them: raw betas per named schedule, the SpacedDiffusion re-derivation of the
// effective betas from the cumulative products, and every float64 buffer the samplers read.
//
// Index k = 0..T-1 is the reference's t (k = 0 is the first noising step).

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"

namespace beacon::diffusion {

/// Named scalar schedules. `info` is InfoDiffusion's base curve alpha_bar = 1 - t/T (the per-token
/// schedule with e = 0; see entropy_schedule.hpp), discretised like the others.
enum class schedule_kind { linear, cosine, sqrt, trunc_cos, trunc_lin, pw_lin, info };

inline std::string_view to_string(schedule_kind k) {
  switch (k) {
    case schedule_kind::linear: return "linear";
    case schedule_kind::cosine: return "cosine";
    case schedule_kind::sqrt: return "sqrt";
    case schedule_kind::trunc_cos: return "trunc_cos";
    case schedule_kind::trunc_lin: return "trunc_lin";
    case schedule_kind::pw_lin: return "pw_lin";
    case schedule_kind::info: return "info";
  }
  return "?";
}

inline schedule_kind parse_schedule_kind(std::string_view name) {
  for (auto k : {schedule_kind::linear, schedule_kind::cosine, schedule_kind::sqrt, schedule_kind::trunc_cos,
                 schedule_kind::trunc_lin, schedule_kind::pw_lin, schedule_kind::info})
    if (to_string(k) == name) return k;
  beacon::detail::fail("parse_schedule_kind", "name", "one of linear, cosine, sqrt, trunc_cos, trunc_lin, pw_lin, info",
               detail::concat('"', name, '"'));
}

namespace detail {
/// a * b rounded on its own: the reference (numpy) never fuses, and a compiler allowed to contract
/// a*b + c into an fma would change the last bit of the spot values.
inline double unfused_mul(double a, double b) {
  volatile double p = a * b;
  return p;
}

/// numpy.linspace(start, stop, n) in float64: i * step + start, last element = stop.
inline void append_linspace(std::vector<double>& out, double start, double stop, size_type n) {
  if (n <= 0) return;
  if (n == 1) {
    out.push_back(start);
    return;
  }
  const double step = (stop - start) / static_cast<double>(n - 1);
  for (size_type i = 0; i + 1 < n; ++i) out.push_back(unfused_mul(static_cast<double>(i), step) + start);
  out.push_back(stop);
}

/// The reference's betas_for_alpha_bar (left = betas_for_alpha_bar_left).
template <class AlphaBar>
std::vector<double> betas_for_alpha_bar(size_type steps, const AlphaBar& f, double max_beta, bool left) {
  std::vector<double> betas;
  betas.reserve(static_cast<std::size_t>(steps));
  if (left) betas.push_back(std::min(1.0 - f(0.0), max_beta));
  for (size_type i = 0; i < steps - (left ? 1 : 0); ++i) {
    const double t1 = static_cast<double>(i) / static_cast<double>(steps);
    const double t2 = static_cast<double>(i + 1) / static_cast<double>(steps);
    betas.push_back(std::min(1.0 - f(t2) / f(t1), max_beta));
  }
  return betas;
}
}  // namespace detail

/// The raw betas of a named schedule for T steps, as the reference's get_named_beta_schedule.
inline std::vector<double> named_betas(schedule_kind kind, size_type steps) {
  if (steps < 1) beacon::detail::fail("named_betas", "steps", ">= 1", steps);
  const double scale = 1000.0 / static_cast<double>(steps);
  std::vector<double> b;
  switch (kind) {
    case schedule_kind::linear:
      detail::append_linspace(b, scale * 0.0001, scale * 0.02, steps);
      break;
    case schedule_kind::trunc_lin:
      detail::append_linspace(b, scale * 0.0001 + 0.01, scale * 0.02 + 0.01, steps);
      break;
    case schedule_kind::pw_lin:
      if (steps <= 10) beacon::detail::fail("named_betas", "steps", "> 10 for pw_lin", steps);
      detail::append_linspace(b, scale * 0.0001 + 0.01, scale * 0.0001, 10);
      detail::append_linspace(b, scale * 0.0001, scale * 0.02, steps - 10);
      break;
    case schedule_kind::cosine:
      b = detail::betas_for_alpha_bar(steps, [](double t) {
        const double c = std::cos((t + 0.008) / 1.008 * M_PI / 2);
        return c * c;
      }, 0.999, false);
      break;
    case schedule_kind::sqrt:
      b = detail::betas_for_alpha_bar(steps, [](double t) { return 1 - std::sqrt(t + 0.0001); }, 0.999, false);
      break;
    case schedule_kind::info:  // f(tau) = 1 - tau; f(1) = 0 clips the last beta to 0.999
      b = detail::betas_for_alpha_bar(steps, [](double t) { return 1 - t; }, 0.999, false);
      break;
    case schedule_kind::trunc_cos:
      b = detail::betas_for_alpha_bar(steps, [](double t) {
        const double c = std::cos((t + 0.1) / 1.1 * M_PI / 2);
        return c * c;
      }, 0.999, true);
      break;
  }
  return b;
}

/// Every float64 buffer of a schedule (the reference's GaussianDiffusion layout), for one
/// sequence of betas. Where 1 - alpha_bar = 0 (a token still exactly clean, possible only in
/// per-token schedules) the posterior is defined as x_{k-1} = x0: coef1 = 1, coef2 = 0, pv = 0.
struct schedule_tables {
  std::vector<double> betas;                            // beta_k
  std::vector<double> alphas_cumprod;                   // alpha_bar_k
  std::vector<double> alphas_cumprod_prev;              // [1, alpha_bar_0 .. alpha_bar_{T-2}]
  std::vector<double> alphas_cumprod_next;              // [alpha_bar_1 .., 0]
  std::vector<double> sqrt_alphas_cumprod;              // sqrt(alpha_bar)
  std::vector<double> sqrt_one_minus_alphas_cumprod;    // sqrt(1 - alpha_bar)
  std::vector<double> log_one_minus_alphas_cumprod;     // log(1 - alpha_bar)
  std::vector<double> sqrt_recip_alphas_cumprod;        // sqrt(1 / alpha_bar)
  std::vector<double> sqrt_recipm1_alphas_cumprod;      // sqrt(1 / alpha_bar - 1)
  std::vector<double> posterior_variance;               // beta (1 - alpha_bar_prev) / (1 - alpha_bar)
  std::vector<double> posterior_log_variance_clipped;   // log([pv_1, pv_1, pv_2, ...])
  std::vector<double> posterior_mean_coef1;             // beta sqrt(alpha_bar_prev) / (1 - alpha_bar)
  std::vector<double> posterior_mean_coef2;             // (1 - alpha_bar_prev) sqrt(alpha) / (1 - alpha_bar)

  [[nodiscard]] size_type steps() const noexcept { return static_cast<size_type>(betas.size()); }
  /// "fixed large" DDPM variance: [pv_1, beta_1, ..., beta_{T-1}].
  [[nodiscard]] double fixed_large_variance(size_type k) const {
    return k == 0 ? (steps() > 1 ? posterior_variance[1] : betas[0]) : betas[static_cast<std::size_t>(k)];
  }
};

/// Buffers from betas in (0, 1] (beta = 0 allowed only with allow_zero_beta, as per-token
/// schedules need). Rejects T = 0 and betas out of range with value_error naming the index.
inline schedule_tables tables_from_betas(std::vector<double> betas, bool allow_zero_beta = false) {
  const auto steps = static_cast<size_type>(betas.size());
  if (steps < 1) beacon::detail::fail("tables_from_betas", "betas.size()", ">= 1 step", 0);
  for (size_type k = 0; k < steps; ++k) {
    const double b = betas[static_cast<std::size_t>(k)];
    const bool ok = (allow_zero_beta ? b >= 0.0 : b > 0.0) && b <= 1.0;
    if (!ok)
      beacon::detail::fail("tables_from_betas", "betas", allow_zero_beta ? "values in [0, 1]" : "values in (0, 1]",
                           beacon::detail::concat(b, " at k = ", k));
  }
  schedule_tables s;
  const auto n = static_cast<std::size_t>(steps);
  s.betas = std::move(betas);
  s.alphas_cumprod.resize(n);
  double running = 1.0;
  for (std::size_t k = 0; k < n; ++k) s.alphas_cumprod[k] = running = running * (1.0 - s.betas[k]);
  s.alphas_cumprod_prev.assign(n, 1.0);
  s.alphas_cumprod_next.assign(n, 0.0);
  for (std::size_t k = 1; k < n; ++k) s.alphas_cumprod_prev[k] = s.alphas_cumprod[k - 1];
  for (std::size_t k = 0; k + 1 < n; ++k) s.alphas_cumprod_next[k] = s.alphas_cumprod[k + 1];
  for (auto* v : {&s.sqrt_alphas_cumprod, &s.sqrt_one_minus_alphas_cumprod, &s.log_one_minus_alphas_cumprod,
                  &s.sqrt_recip_alphas_cumprod, &s.sqrt_recipm1_alphas_cumprod, &s.posterior_variance,
                  &s.posterior_log_variance_clipped, &s.posterior_mean_coef1, &s.posterior_mean_coef2})
    v->resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    const double ab = s.alphas_cumprod[k], ab_prev = s.alphas_cumprod_prev[k], beta = s.betas[k];
    s.sqrt_alphas_cumprod[k] = std::sqrt(ab);
    s.sqrt_one_minus_alphas_cumprod[k] = std::sqrt(1.0 - ab);
    s.log_one_minus_alphas_cumprod[k] = std::log(1.0 - ab);
    s.sqrt_recip_alphas_cumprod[k] = std::sqrt(1.0 / ab);
    s.sqrt_recipm1_alphas_cumprod[k] = std::sqrt(1.0 / ab - 1);
    if (1.0 - ab == 0.0) {
      s.posterior_variance[k] = 0.0;
      s.posterior_mean_coef1[k] = 1.0;
      s.posterior_mean_coef2[k] = 0.0;
    } else {
      s.posterior_variance[k] = beta * (1.0 - ab_prev) / (1.0 - ab);
      s.posterior_mean_coef1[k] = beta * std::sqrt(ab_prev) / (1.0 - ab);
      s.posterior_mean_coef2[k] = (1.0 - ab_prev) * std::sqrt(1.0 - beta) / (1.0 - ab);
    }
  }
  for (std::size_t k = 0; k < n; ++k)
    s.posterior_log_variance_clipped[k] = std::log(s.posterior_variance[k == 0 ? std::min<std::size_t>(1, n - 1) : k]);
  return s;
}

/// The reference's effective betas: SpacedDiffusion (which always wraps the schedule) recomputes
/// beta_k = 1 - alpha_bar_k / alpha_bar_{k-1} from the cumulative products of the raw betas.
inline std::vector<double> respaced_betas(const std::vector<double>& raw) {
  std::vector<double> out;
  out.reserve(raw.size());
  double cumprod = 1.0, last = 1.0;
  for (double b : raw) {
    cumprod = cumprod * (1.0 - b);
    out.push_back(1.0 - cumprod / last);
    last = cumprod;
  }
  return out;
}

/// A named schedule with T steps, as the reference runs it (effective betas + buffers; `info`, which
/// the reference cannot run, uses its betas directly). Schedules with a raw beta outside (0, 1) are
/// rejected: the reference asserts beta <= 1, and beta = 1 would make alpha_bar exactly 0 and
/// sqrt(1/alpha_bar) infinite. For linear that is every T <= 20 (beta_end = 20/T).
inline schedule_tables make_schedule(schedule_kind kind, size_type steps) {
  if (steps < 1) beacon::detail::fail("make_schedule", "steps", ">= 1", steps);
  const std::vector<double> raw = named_betas(kind, steps);
  for (std::size_t k = 0; k < raw.size(); ++k)
    if (!(raw[k] > 0.0 && raw[k] < 1.0))
      beacon::detail::fail("make_schedule", "steps",
                           beacon::detail::concat("a value giving betas in (0, 1) for the ", to_string(kind), " schedule"),
                           beacon::detail::concat(steps, " (beta_", k, " = ", raw[k], ")"));
  return tables_from_betas(kind == schedule_kind::info ? raw : respaced_betas(raw));
}

/// The timestep the reference feeds its network: k * 1000 / T as a float (k = 1999 of 2000 gives
/// 999.5), not k and not k + 1.
inline double rescaled_timestep(size_type k, size_type steps) {
  if (steps < 1) beacon::detail::fail("rescaled_timestep", "steps", ">= 1", steps);
  if (k < 0 || k >= steps) beacon::detail::fail("rescaled_timestep", "k", beacon::detail::concat("in [0, ", steps, ")"), k);
  return static_cast<double>(k) * 1000.0 / static_cast<double>(steps);
}

}  // namespace beacon::diffusion
