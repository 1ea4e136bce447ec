// SPDX-License-Identifier: Apache-2.0
#pragma once
// The forward process with partial noising: x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps on
// target positions (mask = 1), x_t = x0 on source positions (mask = 0), one timestep per example
// and, for the entropy-aware schedule, one alpha_bar per token. Noise comes from a Philox stream, so
// the CPU and CUDA backends draw the same eps for the same (seed, offset).
//
// Coefficients are computed on the host in double (B*L values, negligible next to the B*L*D
// tensor) and cast to the tensor type; the tensor pass is one backend primitive.

#include <cstdint>
#include <span>
#include <vector>

#include "../backend/checks.hpp"
#include "../backend/contract.hpp"
#include "../core/config.hpp"
#include "../core/backend.hpp"
#include "../core/workspace.hpp"
#include "../core/philox.hpp"
#include "../core/view.hpp"
#include "entropy_schedule.hpp"
#include "schedule.hpp"

namespace beacon::diffusion {

/// Per-token-row coefficients of x_t = signal * x0 + noise * eps for a B x L batch (row b*L + l).
template <class T>
struct noising_coefficients {
  std::vector<T> signal;
  std::vector<T> noise;
};

namespace detail {
inline void check_batch(const char* fn, std::span<const index_type> t, size_type steps,
                        const matrix_view<const std::uint8_t, host_space>& mask) {
  beacon::detail::require_extent(fn, "mask", "rows (t.size)", mask.rows(), static_cast<size_type>(t.size()));
  for (std::size_t b = 0; b < t.size(); ++b)
    if (t[b] < 0 || t[b] >= steps)
      beacon::detail::fail(fn, "t", beacon::detail::concat("timesteps in [0, T = ", steps, ")"),
                           beacon::detail::concat(t[b], " for example ", b));
}
}  // namespace detail

/// Scalar schedule: token (b, l) uses alpha_bar[t[b]]; source tokens (mask 0) get (1, 0).
template <class T>
noising_coefficients<T> token_noising_coefficients(const schedule_tables& schedule, std::span<const index_type> t,
                                                   matrix_view<const std::uint8_t, host_space> mask) {
  detail::check_batch("token_noising_coefficients", t, schedule.steps(), mask);
  noising_coefficients<T> c{std::vector<T>(static_cast<std::size_t>(mask.size()), T(1)),
                            std::vector<T>(static_cast<std::size_t>(mask.size()), T(0))};
  for (size_type b = 0; b < mask.rows(); ++b)
    for (size_type l = 0; l < mask.cols(); ++l) {
      if (!mask(b, l)) continue;
      const auto k = static_cast<std::size_t>(t[static_cast<std::size_t>(b)]);
      const auto r = static_cast<std::size_t>(b * mask.cols() + l);
      c.signal[r] = static_cast<T>(schedule.sqrt_alphas_cumprod[k]);
      c.noise[r] = static_cast<T>(schedule.sqrt_one_minus_alphas_cumprod[k]);
    }
  return c;
}

/// Entropy-aware schedule: token (b, l) uses alpha_bar_{t[b]}(e(b, l)), computed on the fly.
template <class T>
noising_coefficients<T> token_noising_coefficients(const info_schedule& schedule, std::span<const index_type> t,
                                                   matrix_view<const double, host_space> e,
                                                   matrix_view<const std::uint8_t, host_space> mask) {
  detail::check_batch("token_noising_coefficients", t, schedule.steps(), mask);
  beacon::detail::require_same_shape("token_noising_coefficients", "e", mask, e);
  noising_coefficients<T> c{std::vector<T>(static_cast<std::size_t>(mask.size()), T(1)),
                            std::vector<T>(static_cast<std::size_t>(mask.size()), T(0))};
  for (size_type b = 0; b < mask.rows(); ++b)
    for (size_type l = 0; l < mask.cols(); ++l) {
      if (!mask(b, l)) continue;
      const double ab = schedule.alpha_bar(t[static_cast<std::size_t>(b)], e(b, l));
      const auto r = static_cast<std::size_t>(b * mask.cols() + l);
      c.signal[r] = static_cast<T>(std::sqrt(ab));
      c.noise[r] = static_cast<T>(std::sqrt(1.0 - ab));
    }
  return c;
}

/// x_t(r, :) = signal[r] * x0(r, :) + noise[r] * eps(r * D + j): the forward-process sample q(x_t | x0).
/// Coefficient views live in the backend's memory space (copy the host vectors for CUDA).
template <backend B, class S1, class X0, class S2, class T>
  requires random_primitives<B, T>
void q_sample(const B& be, vector_view<S1, typename B::memory_space> signal, matrix_view<X0, typename B::memory_space> x0,
              vector_view<S2, typename B::memory_space> noise_scale, philox_stream noise,
              matrix_view<T, typename B::memory_space> xt) {
  row_axpby_noise(be, signal, x0, noise_scale, noise, xt);
}

namespace kernels {
/// Grid: rows x d. x(r, j) += sigma * eps(r * d + j), eps the stream's standard normals.
template <class T, class S>
struct add_scaled_noise {
  T sigma;
  philox_stream noise;
  matrix_view<T, S> x;
  BEACON_HD void operator()(size_type r, size_type j) const {
    x(r, j) += sigma * static_cast<T>(noise.normal(static_cast<std::uint64_t>(r * x.cols() + j)));
  }
};
}  // namespace kernels

/// Diffusion-LM's q(x0 | w): x0 = E[w] + sigma0 * eps', sigma0 = sqrt(1 - alpha_bar_0). No scratch.
template <backend B, class E, class I, class T>
  requires row_primitives<B, T> && elementwise_primitives<B, T>
void embed_with_jitter(const B& be, matrix_view<E, space_of<B>> embedding, vector_view<I, space_of<B>> ids, T sigma0,
                       philox_stream noise, matrix_view<T, space_of<B>> x0) {
  gather_rows(be, embedding, ids, x0);
  for_each_element(be, x0.rows(), x0.cols(), kernels::add_scaled_noise<T, space_of<B>>{sigma0, noise, x0});
}

}  // namespace beacon::diffusion
