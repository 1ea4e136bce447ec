// SPDX-License-Identifier: Apache-2.0
#pragma once
// Training-timestep samplers: uniform, and the reference's loss-aware second-moment resampler
// (uniform until every t holds `history` losses, then p_t ∝ sqrt(mean(loss_t^2)) mixed with a
// uniform floor; the batch loss is weighted by 1 / (T p_t) to stay unbiased).
// Draws come from a Philox stream, so a (seed, offset) reproduces a batch exactly.

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/error.hpp"
#include "../core/philox.hpp"

namespace beacon::diffusion {

struct timestep_batch {
  std::vector<index_type> t;     ///< one timestep per example
  std::vector<double> weights;   ///< importance weight per example, 1 / (T p_t)
};

namespace detail {
/// Inverse-CDF draws of `batch` indices from probabilities p (sum 1) with Philox uniforms.
inline timestep_batch draw(const std::vector<double>& p, size_type batch, philox_stream noise) {
  if (batch < 0) beacon::detail::fail("timestep sampler", "batch", ">= 0", batch);
  std::vector<double> cdf(p.size());
  double running = 0;
  for (std::size_t i = 0; i < p.size(); ++i) cdf[i] = running += p[i];
  timestep_batch out;
  for (size_type b = 0; b < batch; ++b) {
    const double u = noise.uniform_double(static_cast<std::uint64_t>(b)) * running;
    auto k = static_cast<std::size_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    if (k >= p.size()) k = p.size() - 1;
    out.t.push_back(static_cast<index_type>(k));
    out.weights.push_back(1.0 / (static_cast<double>(p.size()) * p[k] / running));
  }
  return out;
}
}  // namespace detail

class uniform_timestep_sampler {
 public:
  explicit uniform_timestep_sampler(size_type steps) : steps_(steps) {
    if (steps < 1) beacon::detail::fail("uniform_timestep_sampler", "steps", ">= 1", steps);
  }
  [[nodiscard]] std::vector<double> probabilities() const {
    return std::vector<double>(static_cast<std::size_t>(steps_), 1.0 / static_cast<double>(steps_));
  }
  [[nodiscard]] timestep_batch sample(size_type batch, philox_stream noise) const {
    return detail::draw(probabilities(), batch, noise);
  }

 private:
  size_type steps_;
};

class loss_second_moment_sampler {
 public:
  explicit loss_second_moment_sampler(size_type steps, size_type history = 10, double uniform_prob = 0.001)
      : steps_(steps), history_(history), uniform_prob_(uniform_prob) {
    if (steps < 1) beacon::detail::fail("loss_second_moment_sampler", "steps", ">= 1", steps);
    if (history < 1) beacon::detail::fail("loss_second_moment_sampler", "history", ">= 1", history);
    if (!(uniform_prob >= 0.0 && uniform_prob <= 1.0))
      beacon::detail::fail("loss_second_moment_sampler", "uniform_prob", "in [0, 1]", uniform_prob);
    losses_.assign(static_cast<std::size_t>(steps * history), 0.0);
    counts_.assign(static_cast<std::size_t>(steps), 0);
  }

  /// True once every timestep holds `history` losses (before that, sampling is uniform).
  [[nodiscard]] bool warmed_up() const {
    for (auto c : counts_)
      if (c < history_) return false;
    return true;
  }

  /// Records per-example losses for the timesteps they were drawn at (oldest dropped when full).
  void update(const std::vector<index_type>& t, const std::vector<double>& losses) {
    if (t.size() != losses.size())
      beacon::detail::fail<shape_error>("loss_second_moment_sampler::update", "losses", beacon::detail::concat("size ", t.size()),
                                        losses.size());
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (t[i] < 0 || t[i] >= steps_)
        beacon::detail::fail("loss_second_moment_sampler::update", "t", beacon::detail::concat("timesteps in [0, ", steps_, ")"),
                             beacon::detail::concat(t[i], " at position ", i));
      if (!std::isfinite(losses[i]))
        beacon::detail::fail("loss_second_moment_sampler::update", "losses", "finite values",
                             beacon::detail::concat(losses[i], " at position ", i));
      double* row = losses_.data() + static_cast<std::size_t>(t[i]) * static_cast<std::size_t>(history_);
      size_type& n = counts_[static_cast<std::size_t>(t[i])];
      if (n == history_) {
        std::copy(row + 1, row + history_, row);
        row[history_ - 1] = losses[i];
      } else {
        row[n++] = losses[i];
      }
    }
  }

  /// p_t: uniform before warm-up, else sqrt(mean(loss^2)) normalised, times (1 - u), plus u / T.
  [[nodiscard]] std::vector<double> probabilities() const {
    std::vector<double> w(static_cast<std::size_t>(steps_), 1.0 / static_cast<double>(steps_));
    if (!warmed_up()) return w;
    double total = 0;
    for (size_type k = 0; k < steps_; ++k) {
      double sq = 0;
      for (size_type j = 0; j < history_; ++j) {
        const double l = losses_[static_cast<std::size_t>(k * history_ + j)];
        sq += l * l;
      }
      w[static_cast<std::size_t>(k)] = std::sqrt(sq / static_cast<double>(history_));
      total += w[static_cast<std::size_t>(k)];
    }
    for (auto& v : w) v = (total > 0 ? v / total : 1.0 / static_cast<double>(steps_)) * (1.0 - uniform_prob_) +
                          uniform_prob_ / static_cast<double>(steps_);
    return w;
  }

  [[nodiscard]] timestep_batch sample(size_type batch, philox_stream noise) const {
    return detail::draw(probabilities(), batch, noise);
  }

 private:
  size_type steps_, history_;
  double uniform_prob_;
  std::vector<double> losses_;
  std::vector<size_type> counts_;
};

}  // namespace beacon::diffusion
