// SPDX-License-Identifier: Apache-2.0
#pragma once
// Copying the library adaptor's parameters into the Eigen oracle (tests/oracle) and measuring how far
// their values or gradients are apart: shared by the adaptor tests.

#include <doctest/doctest.h>

#include <beacon/core/view.hpp>

#include <algorithm>
#include <cmath>
#include <string>

#include "../oracle/oracle.hpp"

namespace beacon_test {

using beacon::size_type;

/// The oracle's parameter holding (row `row` of) the library parameter `name`: stacked keys and gate
/// rows are one tensor in the library and one parameter per expert in the oracle.
template <class O>
beacon::oracle::parameter<double>* oracle_param(O& o, const std::string& name, size_type row) {
  std::string want = name;
  if (name == "router.keys") want = "router.key" + std::to_string(row);
  if (name == "router.gate") want = "router.gate" + std::to_string(row);
  for (auto* p : o.parameters())
    if (p->name == want) return p;
  FAIL("the oracle has no parameter " << want);
  return nullptr;
}
inline bool stacked(const std::string& name) { return name == "router.keys" || name == "router.gate"; }

/// Copies every library parameter value into the oracle.
template <class A, class O>
void sync(const A& a, O& o) {
  for (const auto* p : a.parameters()) {
    const auto v = p->value();
    if (stacked(p->name())) {
      for (size_type r = 0; r < p->rows(); ++r) {
        auto* q = oracle_param(o, p->name(), r);
        for (size_type c = 0; c < p->cols(); ++c) q->value[static_cast<std::size_t>(c)] = v(r, c);
      }
    } else {
      auto* q = oracle_param(o, p->name(), 0);
      REQUIRE(static_cast<size_type>(q->value.size()) == p->size());
      for (size_type i = 0; i < p->size(); ++i) q->value[static_cast<std::size_t>(i)] = v.data()[i];
    }
  }
}

/// Largest |library - oracle| over values (or gradients) of every parameter (trainable rows for grads).
template <class A, class O>
double difference(A& a, O& o, bool gradients) {
  double worst = 0;
  for (auto* p : a.parameters()) {
    if (gradients && p->frozen()) continue;
    const auto m = gradients ? beacon::matrix_view<const double>(p->grad()) : p->value();
    for (size_type r = gradients ? p->frozen_rows() : 0; r < p->rows(); ++r) {
      auto* q = oracle_param(o, p->name(), r);
      const auto& ref = gradients ? q->grad : q->value;
      for (size_type c = 0; c < p->cols(); ++c) {
        const double want = ref[static_cast<std::size_t>(stacked(p->name()) ? c : r * p->cols() + c)];
        worst = std::max(worst, std::abs(m(r, c) - want) / (1.0 + std::abs(want)));
      }
    }
  }
  return worst;
}

}  // namespace beacon_test
