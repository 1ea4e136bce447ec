// SPDX-License-Identifier: Apache-2.0
#pragma once
// InfoDiffusion's entropy-aware ("keyinfo-first") per-token noise schedule.
//
//   f_i(tau) = clamp(1 - tau + lambda * sin(pi * tau) * e_i, 0, 1)
//   beta_{k,i} = clamp(1 - f_i((k+1)/T) / f_i(k/T), 0, max_beta),  beta = max_beta where f_i(k/T) = 0
//   alpha_bar_{k,i} = prod_{j<=k} (1 - beta_{j,i})
//
// Tokens with e > 0 (more informative than their sentence's average) keep more signal for longer:
// they are noised last and decoded first. e > 1/(lambda*pi) saturates (f clamps to 1: beta = 0, the
// token stays exactly clean, posterior x_{k-1} = x0); e < -1/(lambda*pi) dies early (f reaches 0 and
// alpha_bar decays by (1 - max_beta) per step, underflowing to 0).
//
// Two ways to read it: exact per-token tables (cumulative products, `tables`), or coefficients for
// (k, e) on the fly without any T x L table (`coefficients`), which agree with the tables to ~1e-13.

#include <cmath>
#include <span>
#include <vector>

#include "../core/error.hpp"
#include "schedule.hpp"

namespace beacon::diffusion {

/// What a noising or reverse step needs at step k for one token.
struct step_coefficients {
  double alpha_bar;       ///< alpha_bar_k
  double alpha_bar_prev;  ///< alpha_bar_{k-1} (1 at k = 0)
  double beta;            ///< beta_k
  double sqrt_alpha_bar;
  double sqrt_one_minus_alpha_bar;
  double posterior_variance;
  double coef1;  ///< posterior mean = coef1 * x0 + coef2 * x_k
  double coef2;
};

struct info_schedule_options {
  double lambda = 0.5;     ///< strength of the sine bump (the paper's figure uses 0.5)
  double max_beta = 0.999;
};

class info_schedule {
 public:
  explicit info_schedule(size_type steps, info_schedule_options options = {}) : steps_(steps), opt_(options) {
    if (steps < 1) beacon::detail::fail("info_schedule", "steps", ">= 1", steps);
    if (!(options.lambda >= 0.0) || !std::isfinite(options.lambda))
      beacon::detail::fail("info_schedule", "lambda", ">= 0 and finite", options.lambda);
    if (!(options.max_beta > 0.0 && options.max_beta < 1.0))
      beacon::detail::fail("info_schedule", "max_beta", "in (0, 1)", options.max_beta);
  }

  [[nodiscard]] size_type steps() const noexcept { return steps_; }
  [[nodiscard]] const info_schedule_options& options() const noexcept { return opt_; }

  /// f(tau) for a token with normalised information e.
  [[nodiscard]] double curve(double tau, double e) const {
    const double f = 1.0 - tau + opt_.lambda * std::sin(M_PI * tau) * e;
    return f < 0.0 ? 0.0 : (f > 1.0 ? 1.0 : f);
  }

  /// beta_k for a token with normalised information e.
  [[nodiscard]] double beta(size_type k, double e) const {
    check_step("info_schedule::beta", k);
    return beta_from(grid(k, e), grid(k + 1, e));
  }

  /// Exact per-token tables (cumulative products and every buffer of schedule_tables).
  [[nodiscard]] schedule_tables tables(double e) const {
    check_e("info_schedule::tables", e);
    std::vector<double> betas(static_cast<std::size_t>(steps_));
    double prev = grid(0, e);
    for (size_type k = 0; k < steps_; ++k) {
      const double next = grid(k + 1, e);
      betas[static_cast<std::size_t>(k)] = beta_from(prev, next);
      prev = next;
    }
    return tables_from_betas(std::move(betas), /*allow_zero_beta=*/true);
  }

  /// alpha_bar_{k, i} for each token i of `e` as a row-major T x L table (k-major).
  [[nodiscard]] std::vector<double> alpha_bar_table(std::span<const double> e) const {
    std::vector<double> out(static_cast<std::size_t>(steps_) * e.size());
    for (std::size_t i = 0; i < e.size(); ++i) {
      const schedule_tables t = tables(e[i]);
      for (size_type k = 0; k < steps_; ++k) out[static_cast<std::size_t>(k) * e.size() + i] = t.alphas_cumprod[static_cast<std::size_t>(k)];
    }
    return out;
  }

  /// alpha_bar_k for e without tables: f((k+1)/T) until the first clipped step j* (found by
  /// bisection, O(log T)), then f(j*/T) * (1 - max_beta)^(k - j* + 1).
  [[nodiscard]] double alpha_bar(size_type k, double e) const {
    check_step("info_schedule::alpha_bar", k);
    check_e("info_schedule::alpha_bar", e);
    if (!clipped(k, e)) {
      // No clip at k means none before: the curve only drops by 1/(1 - max_beta) in one step where
      // it reaches 0, after which every step clips.
      return grid(k + 1, e);
    }
    size_type lo = 0, hi = k;  // first clipped step in [0, k]
    while (lo < hi) {
      const size_type mid = lo + (hi - lo) / 2;
      if (clipped(mid, e)) hi = mid;
      else lo = mid + 1;
    }
    return grid(lo, e) * std::pow(1.0 - opt_.max_beta, static_cast<double>(k - lo + 1));
  }

  /// Noising and posterior coefficients at step k for e, computed on the fly.
  [[nodiscard]] step_coefficients coefficients(size_type k, double e) const {
    step_coefficients c{};
    c.alpha_bar = alpha_bar(k, e);
    c.alpha_bar_prev = k == 0 ? 1.0 : alpha_bar(k - 1, e);
    c.beta = beta(k, e);
    c.sqrt_alpha_bar = std::sqrt(c.alpha_bar);
    c.sqrt_one_minus_alpha_bar = std::sqrt(1.0 - c.alpha_bar);
    if (1.0 - c.alpha_bar == 0.0) {
      c.posterior_variance = 0.0;
      c.coef1 = 1.0;
      c.coef2 = 0.0;
    } else {
      c.posterior_variance = c.beta * (1.0 - c.alpha_bar_prev) / (1.0 - c.alpha_bar);
      c.coef1 = c.beta * std::sqrt(c.alpha_bar_prev) / (1.0 - c.alpha_bar);
      c.coef2 = (1.0 - c.alpha_bar_prev) * std::sqrt(1.0 - c.beta) / (1.0 - c.alpha_bar);
    }
    return c;
  }

 private:
  [[nodiscard]] double grid(size_type j, double e) const {
    return curve(static_cast<double>(j) / static_cast<double>(steps_), e);
  }
  [[nodiscard]] double beta_from(double f_now, double f_next) const {
    if (f_now == 0.0) return opt_.max_beta;
    const double b = 1.0 - f_next / f_now;
    return b < 0.0 ? 0.0 : (b > opt_.max_beta ? opt_.max_beta : b);
  }
  [[nodiscard]] bool clipped(size_type j, double e) const { return beta_from(grid(j, e), grid(j + 1, e)) >= opt_.max_beta; }
  void check_step(const char* fn, size_type k) const {
    if (k < 0 || k >= steps_) beacon::detail::fail(fn, "k", beacon::detail::concat("in [0, ", steps_, ")"), k);
  }
  static void check_e(const char* fn, double e) {
    if (!std::isfinite(e)) beacon::detail::fail(fn, "e", "a finite normalised information", e);
  }

  size_type steps_;
  info_schedule_options opt_;
};

}  // namespace beacon::diffusion
