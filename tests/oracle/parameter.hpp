// SPDX-License-Identifier: Apache-2.0
#pragma once
// The test oracle (plain Eigen, CPU only): a named trainable tensor with its gradient and AdamW moments, and the frozen flag that lifelong
// editing relies on: a frozen parameter is never written by an optimizer step (bit-identical).

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <beacon/core/config.hpp>
#include <beacon/core/adamw.hpp>
#include <beacon/core/error.hpp>

namespace beacon::oracle {

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

/// AdamW (core/adamw.hpp) on an oracle parameter, element by element (frozen ones are skipped).
template <class T>
void adamw_update(const beacon::adamw& opt, parameter<T>& p) {
  if (p.frozen) return;
  const auto c = opt.coefficients();
  for (std::size_t i = 0; i < p.value.size(); ++i) beacon::detail::adamw_element(c, p.value[i], p.grad[i], p.m[i], p.v[i]);
}

}  // namespace beacon::oracle
