// SPDX-License-Identifier: Apache-2.0
#pragma once
// The forward process with partial noising: x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps on
// target positions (mask = 1), x_t = x0 on source positions (mask = 0), one timestep per example
// and, for the entropy-aware schedule, one alpha_bar per token. Noise comes from a Philox stream, so
// the CPU and CUDA backends draw the same eps for the same (seed, offset).
//
// Coefficients are computed on the host in double (B*L values, negligible next to the B*L*D
// tensor) and cast to the tensor type; the tensor pass is one backend primitive.

#include <cmath>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "../backend/checks.hpp"
#include "../backend/contract.hpp"
#include "../core/config.hpp"
#include "../core/backend.hpp"
#include "../core/workspace.hpp"
#include "../core/philox.hpp"
#include "../core/view.hpp"
#include "../core/views_of.hpp"
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

/// What token_noising_coefficients accepts for t and mask, said at the caller's line.
template <class Timesteps, class Mask>
constexpr void check_timesteps_and_mask() {
  static_assert(is_vector_of<Timesteps, index_type>(),
                "beacon::diffusion::token_noising_coefficients: argument 't' expected a contiguous range of int32 timesteps (beacon::index_type: "
                "std::vector<int32_t>, std::span<const int32_t>, an Eigen vector); convert int64/size_t timesteps with beacon::to_timesteps(t)");
  static_assert(is_matrix_of<Mask, std::uint8_t>(),
                "beacon::diffusion::token_noising_coefficients: argument 'mask' expected a B x L matrix of std::uint8_t (matrix_view, a row-major "
                "Eigen matrix, or beacon::matrix_of(vector, B, L)); convert bool masks with beacon::to_mask(m)");
}

/// Checks t against the schedule and mask, then fills (signal, noise) of every target token from
/// `coefficients(b, l, t[b])` -> {signal, noise}; source tokens keep (1, 0).
template <class T, class Coefficients>
noising_coefficients<T> by_token(std::span<const index_type> t, size_type steps, matrix_view<const std::uint8_t, host_space> mask,
                                 Coefficients&& coefficients) {
  check_batch("token_noising_coefficients", t, steps, mask);
  noising_coefficients<T> c{std::vector<T>(static_cast<std::size_t>(mask.size()), T(1)),
                            std::vector<T>(static_cast<std::size_t>(mask.size()), T(0))};
  for (size_type b = 0; b < mask.rows(); ++b)
    for (size_type l = 0; l < mask.cols(); ++l) {
      if (!mask(b, l)) continue;
      const auto [signal, noise] = coefficients(b, l, t[static_cast<std::size_t>(b)]);
      const auto r = static_cast<std::size_t>(b * mask.cols() + l);
      c.signal[r] = static_cast<T>(signal);
      c.noise[r] = static_cast<T>(noise);
    }
  return c;
}

template <class Timesteps>
std::span<const index_type> timesteps_span(const Timesteps& t) {
  const auto v = vector_of(t);
  return {v.data(), static_cast<std::size_t>(v.size())};
}
}  // namespace detail

/// Scalar schedule: token (b, l) uses alpha_bar[t[b]]; source tokens (mask 0) get (1, 0).
/// t: B timesteps, any contiguous range of index_type (std::vector<int32_t>, std::span, an Eigen
/// vector); mask: B x L std::uint8_t, a matrix_view or row-major Eigen matrix (or
/// beacon::matrix_of(vector, B, L)). Other element types: beacon::to_timesteps / beacon::to_mask.
template <class T, class Timesteps, class Mask>
noising_coefficients<T> token_noising_coefficients(const schedule_tables& schedule, const Timesteps& t, const Mask& mask) {
  detail::check_timesteps_and_mask<Timesteps, Mask>();
  return detail::by_token<T>(detail::timesteps_span(t), schedule.steps(), matrix_of(mask), [&](size_type, size_type, index_type k) {
    const auto i = static_cast<std::size_t>(k);
    return std::pair{schedule.sqrt_alphas_cumprod[i], schedule.sqrt_one_minus_alphas_cumprod[i]};
  });
}

/// Entropy-aware schedule: token (b, l) uses alpha_bar_{t[b]}(e(b, l)), computed on the fly. e: B x L
/// double (a matrix_view or row-major Eigen matrix); t and mask as above.
template <class T, class Timesteps, class Info, class Mask>
noising_coefficients<T> token_noising_coefficients(const info_schedule& schedule, const Timesteps& t, const Info& e, const Mask& mask) {
  detail::check_timesteps_and_mask<Timesteps, Mask>();
  static_assert(is_matrix_of<Info, double>(),
                "beacon::diffusion::token_noising_coefficients: argument 'e' expected a B x L matrix of double (normalised information)");
  const matrix_view<const double, host_space> ev = matrix_of(e);
  const matrix_view<const std::uint8_t, host_space> m = matrix_of(mask);
  beacon::detail::require_same_shape("token_noising_coefficients", "e", m, ev);
  return detail::by_token<T>(detail::timesteps_span(t), schedule.steps(), m, [&](size_type b, size_type l, index_type k) {
    const double ab = schedule.alpha_bar(k, ev(b, l));
    return std::pair{std::sqrt(ab), std::sqrt(1.0 - ab)};
  });
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

/// q_sample on the host with what the caller holds: coefficient vectors as std::vector, std::span or
/// Eigen vectors, x0 and x_t as row-major Eigen matrices or views (no copies). Coefficients must have
/// the tensor's element type (token_noising_coefficients<T> gives them; beacon::cast_elements<T>
/// converts others).
template <backend B, class Signal, class X0, class Noise, class Xt>
  requires(!(beacon::detail::is_view_v<Signal> && beacon::detail::is_view_v<X0> && beacon::detail::is_view_v<Noise> && beacon::detail::is_view_v<Xt>))
void q_sample(const B& be, const Signal& signal, const X0& x0, const Noise& noise_scale, philox_stream noise, Xt&& xt) {
  static_assert(std::is_same_v<typename B::memory_space, host_space>,
                "beacon::diffusion::q_sample: std::vector and Eigen arguments live on the host; on a device backend pass device views");
  static_assert(matrix_like<Xt&> && !std::is_const_v<std::remove_reference_t<Xt>>,
                "beacon::diffusion::q_sample: argument 'xt' expected a writable matrix (matrix_view<float or double>, a row-major Eigen matrix)");
  using T = matrix_element_t<std::remove_reference_t<Xt>>;
  static_assert(is_matrix_of<X0, T>(), "beacon::diffusion::q_sample: argument 'x0' expected a matrix of x_t's element type (float with float, double with double)");
  static_assert(is_vector_of<Signal, T>() && is_vector_of<Noise, T>(),
                "beacon::diffusion::q_sample: arguments 'signal' and 'noise_scale' expected contiguous ranges of x_t's element type (a "
                "std::vector<double> with a float x_t does not convert silently: use token_noising_coefficients<float>, or beacon::cast_elements<float>)");
  q_sample(be, vector_view<const T, host_space>(vector_of(signal)), matrix_view<const T, host_space>(matrix_of(x0)),
           vector_view<const T, host_space>(vector_of(noise_scale)), noise, matrix_of(xt));
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
