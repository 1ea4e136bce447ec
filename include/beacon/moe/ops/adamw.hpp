#pragma once
// AdamW on any backend: moe::adamw's update (decoupled weight decay, bias correction, computed in
// double) over a parameter held as views (value, grad, m, v), e.g. device copies of an adaptor's
// trainable tensors. A frozen parameter is not touched at all: its bytes stay identical.
//
//   opt.next_step();                                      // once per optimisation step, as moe::adamw
//   beacon::moe::adamw_update(be, opt, {value, grad, m, v, frozen});

#include <cmath>

#include "../../backend/cpu/moe_kernels.hpp"
#include "../../core/backend.hpp"
#include "../parameter.hpp"

namespace beacon::moe {

template <class T, class Space>
struct adamw_views {
  vector_view<T, Space> value;
  vector_view<const T, Space> grad;
  vector_view<T, Space> m, v;
  bool frozen = false;
};

/// The step's constants of `opt` (bias corrections from opt.step, which must be >= 1).
inline adamw_coefficients coefficients_of(const adamw& opt) {
  if (opt.step < 1) beacon::detail::fail("moe::adamw_update", "opt.step", ">= 1 (call next_step() first)", opt.step);
  return {opt.lr,
          opt.beta1,
          opt.beta2,
          opt.eps,
          opt.weight_decay,
          1.0 - std::pow(opt.beta1, static_cast<double>(opt.step)),
          1.0 - std::pow(opt.beta2, static_cast<double>(opt.step))};
}

/// One AdamW update of a parameter at opt.step (the caller advances it once per step).
template <backend B, class T>
void adamw_update(const B& be, const adamw& opt, const adamw_views<T, typename B::memory_space>& p) {
  if (p.frozen) return;  // frozen parameters keep their exact bytes
  adamw_step(be, coefficients_of(opt), p.value, p.grad, p.m, p.v);
}

/// A parameter<T>'s arrays as adamw_views (host), with its frozen flag.
template <class T>
adamw_views<T, host_space> adamw_views_of(parameter<T>& p) {
  return {host_vector(p.value.data(), p.size()), host_vector<const T>(p.grad.data(), p.size()), host_vector(p.m.data(), p.size()),
          host_vector(p.v.data(), p.size()), p.frozen};
}

}  // namespace beacon::moe
