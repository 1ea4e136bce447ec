#pragma once
// A named trainable tensor with its gradient and AdamW moments, and the frozen flag that lifelong
// editing relies on: a frozen parameter is never written by an optimizer step (bit-identical).

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"

namespace beacon::moe {

template <class T>
struct parameter {
  std::string name;
  std::vector<size_type> shape;  ///< row-major
  std::vector<T> value, grad, m, v;
  bool frozen = false;

  parameter() = default;
  parameter(std::string n, std::vector<size_type> s) : name(std::move(n)), shape(std::move(s)) {
    size_type count = 1;
    for (auto e : shape) count *= e;
    value.assign(static_cast<std::size_t>(count), T(0));
    grad.assign(value.size(), T(0));
    m.assign(value.size(), T(0));
    v.assign(value.size(), T(0));
  }
  [[nodiscard]] size_type size() const noexcept { return static_cast<size_type>(value.size()); }
  [[nodiscard]] size_type rows() const noexcept { return shape.empty() ? 1 : shape[0]; }
  [[nodiscard]] size_type cols() const noexcept { return shape.size() < 2 ? (shape.empty() ? 1 : shape[0]) : shape[1]; }
  void zero_grad() { std::fill(grad.begin(), grad.end(), T(0)); }
};

/// AdamW with decoupled weight decay (Loshchilov & Hutter): theta -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * theta).
struct adamw {
  double lr = 2e-4;  ///< LEMoE's learning rate
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
  long step = 0;     ///< bias-correction counter; advance with next_step() once per update

  void next_step() { ++step; }

  template <class T>
  void update(parameter<T>& p) const {
    if (p.frozen) return;  // frozen parameters keep their exact bytes
    if (step < 1) beacon::detail::fail("adamw::update", "step", ">= 1 (call next_step() first)", step);
    const double c1 = 1.0 - std::pow(beta1, static_cast<double>(step)), c2 = 1.0 - std::pow(beta2, static_cast<double>(step));
    for (std::size_t i = 0; i < p.value.size(); ++i) {
      const double g = static_cast<double>(p.grad[i]);
      const double m = beta1 * static_cast<double>(p.m[i]) + (1 - beta1) * g;
      const double v = beta2 * static_cast<double>(p.v[i]) + (1 - beta2) * g * g;
      p.m[i] = static_cast<T>(m);
      p.v[i] = static_cast<T>(v);
      const double theta = static_cast<double>(p.value[i]);
      p.value[i] = static_cast<T>(theta - lr * ((m / c1) / (std::sqrt(v / c2) + eps) + weight_decay * theta));
    }
  }
};

}  // namespace beacon::moe
