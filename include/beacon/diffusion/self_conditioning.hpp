// SPDX-License-Identifier: Apache-2.0
#pragma once
// Self-conditioning (Analog Bits recipe, as InfoDiffusion describes it): the denoiser also sees its
// previous estimate x0_tilde. Training feeds x0_tilde = stopgrad(f(x_t, 0, t)) for a random half of
// the examples and 0 for the rest; sampling feeds the previous step's x0_hat (0 at the first step,
// kept across DDIM skips). This header holds that state and the training mask.

#include <cstdint>
#include <vector>

#include "../backend/checks.hpp"
#include "../backend/contract.hpp"
#include "../core/backend.hpp"
#include "../core/error.hpp"
#include "../core/philox.hpp"
#include "../core/view.hpp"

namespace beacon::diffusion {

/// Per-example Bernoulli(probability) mask: 1 = feed the detached first-pass estimate, 0 = feed zeros.
inline std::vector<std::uint8_t> self_conditioning_mask(size_type batch, philox_stream noise, double probability = 0.5) {
  if (batch < 0) beacon::detail::fail("self_conditioning_mask", "batch", ">= 0", batch);
  if (!(probability >= 0.0 && probability <= 1.0))
    beacon::detail::fail("self_conditioning_mask", "probability", "in [0, 1]", probability);
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(batch));
  for (size_type b = 0; b < batch; ++b) mask[static_cast<std::size_t>(b)] = noise.uniform_double(static_cast<std::uint64_t>(b)) < probability;
  return mask;
}

/// The sampler's x0_tilde buffer (caller-owned memory in the backend's space, B*L x D): zero
/// before the first step, then the previous step's x0_hat.
template <backend B, class T>
  requires elementwise_primitives<B, T>
class self_conditioning_state {
 public:
  using space = typename B::memory_space;
  explicit self_conditioning_state(matrix_view<T, space> buffer) : buffer_(buffer) {}

  /// Back to "no previous estimate" (zeros); call at the start of each sampling run.
  void reset(const B& be) {
    fill(be, T(0), buffer_);
    has_previous_ = false;
  }
  /// Stores this step's estimate for the next step (raw or rounded: the caller chooses which).
  template <class X>
  void update(const B& be, matrix_view<X, space> x0_hat) {
    beacon::detail::require_same_shape("self_conditioning_state::update", "x0_hat", buffer_, x0_hat);
    axpby(be, T(1), x0_hat, T(0), x0_hat, buffer_);
    has_previous_ = true;
  }
  [[nodiscard]] matrix_view<const T, space> previous() const { return buffer_; }
  [[nodiscard]] bool has_previous() const noexcept { return has_previous_; }

 private:
  matrix_view<T, space> buffer_;
  bool has_previous_ = false;
};

}  // namespace beacon::diffusion
