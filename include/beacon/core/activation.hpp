// SPDX-License-Identifier: Apache-2.0
#pragma once
// Elementwise activations of dense layers and their derivatives (scalar, host and device): the
// math of the backend's bias_activation / gated_activation primitives and of every expert.

#include <cmath>

#include "../core/config.hpp"

namespace beacon {

enum class activation { relu, silu, gelu, identity };

/// The activation's name as checkpoints and messages spell it.
constexpr const char* activation_name(activation a) noexcept {
  switch (a) {
    case activation::relu: return "relu";
    case activation::silu: return "silu";
    case activation::gelu: return "gelu";
    case activation::identity: return "identity";
  }
  return "unknown";
}

template <class T>
BEACON_HD T activate(activation a, T z) {
  switch (a) {
    case activation::relu: return z > T(0) ? z : T(0);
    case activation::silu: return z / (T(1) + std::exp(-z));
    case activation::gelu: return T(0.5) * z * (T(1) + std::erf(z * T(0.70710678118654752440)));
    case activation::identity: return z;
  }
  return z;
}

/// d activate(z) / dz (ReLU'(0) = 0).
template <class T>
BEACON_HD T activate_derivative(activation a, T z) {
  switch (a) {
    case activation::relu: return z > T(0) ? T(1) : T(0);
    case activation::silu: {
      const T s = T(1) / (T(1) + std::exp(-z));
      return s * (T(1) + z * (T(1) - s));
    }
    case activation::gelu: {
      const T cdf = T(0.5) * (T(1) + std::erf(z * T(0.70710678118654752440)));
      const T pdf = std::exp(T(-0.5) * z * z) * T(0.39894228040143267794);
      return cdf + z * pdf;
    }
    case activation::identity: return T(1);
  }
  return T(1);
}

}  // namespace beacon
