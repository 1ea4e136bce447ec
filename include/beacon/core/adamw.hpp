// SPDX-License-Identifier: Apache-2.0
#pragma once
// AdamW with decoupled weight decay (Loshchilov & Hutter), as plain data and one element's math:
//   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
//   theta -= lr * ((m / c1) / (sqrt(v / c2) + eps) + wd * theta),   c1 = 1 - b1^step, c2 = 1 - b2^step
// computed in double whatever the parameter's scalar. The backend's adamw_step applies it to a
// tensor; moe::adaptor::step applies it to every trainable parameter.

#include <cmath>

#include "config.hpp"
#include "error.hpp"

namespace beacon {

/// The step's constants: lr, betas, eps, decoupled weight decay and the bias corrections
/// c1 = 1 - beta1^step, c2 = 1 - beta2^step (computed once on the host).
struct adamw_coefficients {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0, bias_correction1 = 1, bias_correction2 = 1;
};

/// The optimiser's hyper-parameters and its step counter (advance with next_step() once per update).
struct adamw {
  double lr = 2e-4;  ///< LEMoE's learning rate
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
  long step = 0;

  void next_step() noexcept { ++step; }

  /// The constants of the current step (step must be >= 1).
  [[nodiscard]] adamw_coefficients coefficients() const {
    if (step < 1) detail::fail("adamw", "step", ">= 1 (call next_step() first)", step);
    return {lr, beta1, beta2, eps, weight_decay, 1.0 - std::pow(beta1, static_cast<double>(step)),
            1.0 - std::pow(beta2, static_cast<double>(step))};
  }
};

namespace detail {
/// One element of the update, in double, in a fixed order of operations (CPU and CUDA agree).
template <class T>
BEACON_HD void adamw_element(const adamw_coefficients& c, T& value, T grad, T& m, T& v) {
  const double g = static_cast<double>(grad);
  const double m1 = c.beta1 * static_cast<double>(m) + (1 - c.beta1) * g;
  const double v1 = c.beta2 * static_cast<double>(v) + (1 - c.beta2) * g * g;
  m = static_cast<T>(m1);
  v = static_cast<T>(v1);
  const double theta = static_cast<double>(value);
  value = static_cast<T>(theta - c.lr * ((m1 / c.bias_correction1) / (std::sqrt(v1 / c.bias_correction2) + c.eps) + c.weight_decay * theta));
}
}  // namespace detail

}  // namespace beacon
