// SPDX-License-Identifier: Apache-2.0
#pragma once
// The backend conformance suite: every primitive of the contract (backend/contract.hpp), written once
// as templated doctest cases over the backend type and instantiated per backend:
//   tests/conformance/host_conformance_test.cpp   beacon::cpu and beacon::testing::reference
//   tests/cuda/primitives_test.cu                 beacon::cuda (runs where a GPU is visible)
// Each case checks a primitive against independent values (hand-computed, analytic identities,
// finite differences, the Philox stream's definition) and, on every backend but the reference one,
// against the reference backend on the same inputs (the oracle). It also checks shapes (shape_error),
// NaN / Inf rules, aliasing that the contract allows, determinism (bit-identical reruns) and, on
// backends that validate data (host backends; CUDA checks metadata only), data errors.
//
// Include after the backend's own header; define the backend_under_test<B> trait for it.

#include <doctest/doctest.h>

#include <beacon/backend/transfer.hpp>
#include <beacon/beacon.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

#include "../support/reference_backend.hpp"

namespace beacon_conformance {

using beacon::index_type;
using beacon::size_type;
using beacon::space_of;
using beacon::testing::reference;

/// How the suite makes a backend, and whether it validates data (indices, NaN, offsets, masks).
template <class B>
struct backend_under_test;
template <>
struct backend_under_test<beacon::cpu> {
  static beacon::cpu make() { return beacon::cpu{2}; }
  static constexpr bool checks_data = true;
};
template <>
struct backend_under_test<reference> {
  static reference make() { return reference{}; }
  static constexpr bool checks_data = true;
};

inline std::size_t count_of(size_type n) { return static_cast<std::size_t>(n); }

template <class T>
std::vector<T> normal_values(size_type n, unsigned seed, double scale = 1.0) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<T> v(count_of(n));
  for (auto& x : v) x = static_cast<T>(d(gen));
  return v;
}

/// A host vector copied into a new buffer of backend `be`.
template <class B, class T>
auto on(const B& be, const std::vector<T>& host) {
  auto b = make_buffer<T>(be, static_cast<size_type>(host.size()));
  beacon::upload(be, host, b.view());
  return b;
}
/// The first rows x cols elements of a buffer as a matrix (mutable, or read-only for cmat).
template <class Buf>
auto mat(Buf& b, size_type rows, size_type cols) {
  REQUIRE(rows * cols <= b.size());
  using view = decltype(b.view());
  return beacon::matrix_view<typename view::element_type, typename view::memory_space>(b.view().data(), rows, cols);
}
template <class Buf>
auto cmat(const Buf& b, size_type rows, size_type cols) {
  REQUIRE(rows * cols <= b.size());
  using view = decltype(b.view());
  return beacon::matrix_view<const typename view::value_type, typename view::memory_space>(b.view().data(), rows, cols);
}
template <class B, class Buf>
auto back(const B& be, const Buf& b) {
  return beacon::download(be, b.view());
}

/// Relative tolerance for results that differ between backends by summation order only.
template <class T>
constexpr double tolerance() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}
template <class A, class E>
double worst(const std::vector<A>& got, const std::vector<E>& want) {
  REQUIRE(got.size() == want.size());
  double w = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), e = static_cast<double>(want[i]);
    if (std::isnan(g) != std::isnan(e)) return std::numeric_limits<double>::infinity();
    if (g == e) continue;  // equal infinities included
    w = std::max(w, std::abs(g - e) / (1.0 + std::abs(e)));
  }
  return w;
}

/// Runs f on the backend under test and, unless it is the reference backend, on the reference
/// backend too (same inputs), and checks the results agree to tolerance<T>.
template <class T, class B, class F>
auto against_reference(const B& be, F&& f) {
  auto got = f(be);
  if constexpr (!std::is_same_v<B, reference>) {
    const auto want = f(reference{});
    CHECK(worst(got, want) <= tolerance<T>());
  }
  return got;
}

// Functors for the generic loops (BEACON_HD: they run on the device for CUDA).
struct record_index {
  beacon::vector_view<index_type, beacon::device_space> dev;
  beacon::vector_view<index_type, beacon::host_space> host;
  BEACON_HD void operator()(size_type i) const {
    if (dev.size() > 0) dev[i] += static_cast<index_type>(i + 1);
    else host[i] += static_cast<index_type>(i + 1);
  }
};
template <class S>
struct record_element {
  beacon::matrix_view<index_type, S> out;
  BEACON_HD void operator()(size_type r, size_type c) const { out(r, c) += static_cast<index_type>(100 * r + c + 1); }
};

template <class T>
using host_matrix_t = beacon::matrix_view<T, beacon::host_space>;

}  // namespace beacon_conformance

// ---------------------------------------------------------------------------------------------------
// The cases. `B` is the backend type; every case makes its backend with backend_under_test<B>::make().

#define BEACON_CONFORMANCE_SETUP                                      \
  using namespace beacon_conformance;                                 \
  using S = beacon::space_of<B>;                                      \
  (void)sizeof(S);                                                    \
  const B be = backend_under_test<B>::make();                         \
  constexpr bool checks_data = backend_under_test<B>::checks_data;    \
  (void)checks_data

TEST_CASE_TEMPLATE_DEFINE("conformance: memory (make_buffer, copy both ways and within the backend)", B, conformance_memory) {
  BEACON_CONFORMANCE_SETUP;
  const std::vector<double> h = {1.5, -2, 3.25, 0, 7};
  auto a = on(be, h);
  CHECK(a.size() == 5);
  auto b = make_buffer<double>(be, 5);
  copy(be, beacon::vector_view<const double, S>(a.view()), b.view());
  CHECK(back(be, b) == h);
  std::vector<double> out(5, 0);
  copy(be, beacon::vector_view<const double, S>(b.view()), beacon::host_vector(out.data(), 5));
  be.synchronize();
  CHECK(out == h);
  CHECK(make_buffer<index_type>(be, 0).size() == 0);
  CHECK_THROWS_AS(make_buffer<float>(be, -1), beacon::value_error);
  CHECK_THROWS_AS(copy(be, beacon::vector_view<const double, S>(a.view()), beacon::vector_view<double, S>(b.view().data(), 4)),
                  beacon::shape_error);
  auto arena = be.scratch(beacon::workspace_layout().add<float>(10).add<index_type>(3).bytes());
  CHECK(arena.template take<float>(10).size() == 10);
  CHECK(arena.template take<index_type>(3).size() == 3);
  CHECK_THROWS_AS(arena.template take<double>(1000), beacon::value_error);
}

TEST_CASE_TEMPLATE_DEFINE("conformance: elementwise (fill, axpby, row_dot, normalize_rows) with aliasing and shape errors", B,
                          conformance_elementwise) {
  BEACON_CONFORMANCE_SETUP;
  const std::vector<double> x = {1, 2, 3, 4, 0, 0}, y = {0.5, -1, 2, 0, 1, 1};
  auto xb = on(be, x), yb = on(be, y), ob = on(be, std::vector<double>(6, 9));
  fill(be, 2.5, mat(ob, 2, 3));
  CHECK(back(be, ob) == std::vector<double>(6, 2.5));
  axpby(be, 2.0, cmat(xb, 3, 2), -1.0, cmat(yb, 3, 2), mat(ob, 3, 2));
  CHECK(back(be, ob) == std::vector<double>{1.5, 5, 4, 8, -1, -1});
  axpby(be, 0.5, cmat(ob, 3, 2), 0.0, cmat(ob, 3, 2), mat(ob, 3, 2));  // out may alias x and y
  CHECK(back(be, ob) == std::vector<double>{0.75, 2.5, 2, 4, -0.5, -0.5});
  auto dots = on(be, std::vector<double>(3, 0));
  row_dot(be, cmat(xb, 3, 2), cmat(yb, 3, 2), dots.view());
  CHECK(back(be, dots) == std::vector<double>{-1.5, 6, 0});
  auto unit = on(be, std::vector<double>(6, 0));
  normalize_rows(be, cmat(xb, 3, 2), mat(unit, 3, 2));
  const auto u = back(be, unit);
  CHECK(u[0] == doctest::Approx(1 / std::sqrt(5.0)).epsilon(1e-13));
  CHECK(u[3] == doctest::Approx(0.8).epsilon(1e-13));
  CHECK(u[4] == 0.0);  // a zero row stays zero (no NaN)
  CHECK(u[5] == 0.0);
  normalize_rows(be, cmat(xb, 3, 2), mat(xb, 3, 2));  // in place
  CHECK(back(be, xb) == u);
  const auto r = against_reference<float>(be, [&](const auto& b) {
    auto xs = on(b, normal_values<float>(40 * 33, 1)), ys = on(b, normal_values<float>(40 * 33, 2));
    auto d = on(b, std::vector<float>(40, 0));
    row_dot(b, cmat(xs, 40, 33), cmat(ys, 40, 33), d.view());
    return back(b, d);
  });
  CHECK(r.size() == 40);
  CHECK_THROWS_AS(axpby(be, 1.0, cmat(xb, 3, 2), 1.0, cmat(yb, 2, 3), mat(ob, 3, 2)), beacon::shape_error);
  CHECK_THROWS_AS(row_dot(be, cmat(xb, 3, 2), cmat(yb, 3, 2), beacon::vector_view<double, S>(dots.view().data(), 2)), beacon::shape_error);
  CHECK_THROWS_AS(normalize_rows(be, cmat(xb, 3, 2), mat(unit, 2, 3)), beacon::shape_error);
}

TEST_CASE_TEMPLATE_DEFINE("conformance: for_each_index and for_each_element visit every index exactly once", B, conformance_loops) {
  BEACON_CONFORMANCE_SETUP;
  auto hits = on(be, std::vector<index_type>(1000, 0));
  record_index f{};
  if constexpr (std::is_same_v<S, beacon::device_space>) f.dev = hits.view();
  else f.host = hits.view();
  for_each_index(be, 1000, f);
  for_each_index(be, 0, f);
  std::vector<index_type> want(1000);
  for (index_type i = 0; i < 1000; ++i) want[count_of(i)] = i + 1;
  CHECK(back(be, hits) == want);
  auto grid = on(be, std::vector<index_type>(37 * 29, 0));
  for_each_element(be, 37, 29, record_element<S>{mat(grid, 37, 29)});
  const auto g = back(be, grid);
  bool all = true;
  for (index_type r = 0; r < 37; ++r)
    for (index_type c = 0; c < 29; ++c) all = all && g[count_of(r * 29 + c)] == 100 * r + c + 1;
  CHECK(all);
  CHECK_THROWS_AS(for_each_index(be, -1, f), beacon::value_error);
  CHECK_THROWS_AS(for_each_element(be, 2, -1, record_element<S>{mat(grid, 37, 29)}), beacon::value_error);
}

TEST_CASE_TEMPLATE_DEFINE("conformance: sum, add_column_sums and segment_sum_rows (empty inputs, accumulation, offsets)", B,
                          conformance_sums) {
  BEACON_CONFORMANCE_SETUP;
  const auto v = normal_values<double>(10007, 3);
  double want = 0;
  for (double e : v) want += e;
  auto vb = on(be, v), out = on(be, std::vector<double>{42});
  sum(be, beacon::vector_view<const double, S>(vb.view()), out.view());
  CHECK(back(be, out)[0] == doctest::Approx(want).epsilon(1e-12));
  sum(be, beacon::vector_view<const double, S>(vb.view().data(), 0), out.view());
  CHECK(back(be, out)[0] == 0.0);
  CHECK_THROWS_AS(sum(be, beacon::vector_view<const double, S>(vb.view()), beacon::vector_view<double, S>(vb.view().data(), 2)),
                  beacon::shape_error);

  const std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8};  // 4 x 2
  auto xb = on(be, x), cols = on(be, std::vector<double>{10, 20});
  add_column_sums(be, cmat(xb, 4, 2), cols.view());  // adds into out
  CHECK(back(be, cols) == std::vector<double>{26, 40});
  auto offsets = on(be, std::vector<index_type>{0, 1, 1, 4});
  auto seg = on(be, std::vector<double>(6, 9));
  segment_sum_rows(be, cmat(xb, 4, 2), beacon::vector_view<const index_type, S>(offsets.view()), mat(seg, 3, 2));
  CHECK(back(be, seg) == std::vector<double>{1, 2, 0, 0, 15, 18});  // the empty segment is zero
  CHECK_THROWS_AS(segment_sum_rows(be, cmat(xb, 4, 2), beacon::vector_view<const index_type, S>(offsets.view()), mat(seg, 2, 2)),
                  beacon::shape_error);
  if constexpr (checks_data) {
    auto bad = on(be, std::vector<index_type>{0, 3, 1, 4});
    CHECK_THROWS_WITH_AS(segment_sum_rows(be, cmat(xb, 4, 2), beacon::vector_view<const index_type, S>(bad.view()), mat(seg, 3, 2)),
                         doctest::Contains("non-decreasing"), beacon::value_error);
  }
  against_reference<float>(be, [&](const auto& b) {
    auto xs = on(b, normal_values<float>(300 * 17, 4));
    auto c = on(b, std::vector<float>(17, 0.5f));
    auto o = on(b, std::vector<index_type>{0, 100, 250, 300});
    auto s3 = on(b, std::vector<float>(3 * 17, 0));
    add_column_sums(b, cmat(xs, 300, 17), c.view());
    segment_sum_rows(b, cmat(xs, 300, 17), beacon::vector_view<const index_type, space_of<std::decay_t<decltype(b)>>>(o.view()),
                     mat(s3, 3, 17));
    auto r = back(b, c);
    const auto r3 = back(b, s3);
    r.insert(r.end(), r3.begin(), r3.end());
    return r;
  });
}

TEST_CASE_TEMPLATE_DEFINE("conformance: row_softmax and row_logsumexp (hand values, -inf masks, large logits, bad rows, in place)", B,
                          conformance_softmax) {
  BEACON_CONFORMANCE_SETUP;
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> z = {0, std::log(2.0), std::log(3.0), 1000, 1000, -inf};  // 2 x 3
  auto zb = on(be, z), p = on(be, std::vector<double>(6, 0)), l = on(be, std::vector<double>(2, 0));
  row_softmax(be, cmat(zb, 2, 3), mat(p, 2, 3));
  const auto ph = back(be, p);
  CHECK(ph[0] == doctest::Approx(1.0 / 6).epsilon(1e-13));
  CHECK(ph[2] == doctest::Approx(0.5).epsilon(1e-13));
  CHECK(ph[3] == doctest::Approx(0.5).epsilon(1e-13));  // no overflow at 1000
  CHECK(ph[5] == 0.0);                                  // a -inf mask is exactly 0
  row_logsumexp(be, cmat(zb, 2, 3), l.view());
  const auto lh = back(be, l);
  CHECK(lh[0] == doctest::Approx(std::log(6.0)).epsilon(1e-13));
  CHECK(lh[1] == doctest::Approx(1000 + std::log(2.0)).epsilon(1e-13));
  row_softmax(be, cmat(zb, 2, 3), mat(zb, 2, 3));  // out may alias in
  CHECK(back(be, zb) == ph);
  CHECK_THROWS_AS(row_softmax(be, cmat(p, 2, 3), mat(p, 3, 2)), beacon::shape_error);
  CHECK_THROWS_AS(row_logsumexp(be, cmat(p, 2, 3), beacon::vector_view<double, S>(l.view().data(), 1)), beacon::shape_error);
  if constexpr (checks_data)
    for (const double bad : {std::nan(""), inf}) {
      auto zbad = on(be, std::vector<double>{0, 1, 2, 3, bad, 5});
      CHECK_THROWS_WITH_AS(row_softmax(be, cmat(zbad, 2, 3), mat(p, 2, 3)), doctest::Contains("row 1"), beacon::value_error);
      CHECK_THROWS_WITH_AS(row_logsumexp(be, cmat(zbad, 2, 3), l.view()), doctest::Contains("row 1"), beacon::value_error);
    }
  against_reference<float>(be, [&](const auto& b) {
    auto zs = on(b, normal_values<float>(50 * 70, 5, 4.0));
    auto ps = on(b, std::vector<float>(50 * 70)), ls = on(b, std::vector<float>(50));
    row_softmax(b, cmat(zs, 50, 70), mat(ps, 50, 70));
    row_logsumexp(b, cmat(zs, 50, 70), ls.view());
    auto r = back(b, ps);
    const auto lr = back(b, ls);
    r.insert(r.end(), lr.begin(), lr.end());
    return r;
  });
}

TEST_CASE_TEMPLATE_DEFINE("conformance: row_top_k, softmax_top_k, row_argmax and row_argmin (ties to the lower index, k rules, NaN)", B,
                          conformance_top_k) {
  BEACON_CONFORMANCE_SETUP;
  const std::vector<float> z = {1, 3, 3, 0, 2, 2, 2, -1};  // 2 x 4
  auto zb = on(be, z), v = on(be, std::vector<float>(4)), w = on(be, std::vector<float>(4));
  auto ids = on(be, std::vector<index_type>(4)), arg = on(be, std::vector<index_type>(2));
  row_top_k(be, cmat(zb, 2, 4), 2, mat(v, 2, 2), mat(ids, 2, 2));
  CHECK(back(be, ids) == std::vector<index_type>{1, 2, 0, 1});
  CHECK(back(be, v) == std::vector<float>{3, 3, 2, 2});
  softmax_top_k(be, cmat(zb, 2, 4), 2, false, mat(w, 2, 2), mat(ids, 2, 2));
  const auto wh = back(be, w);
  const double d0 = std::exp(1.0) + 2 * std::exp(3.0) + 1, d1 = 3 * std::exp(2.0) + std::exp(-1.0);
  CHECK(wh[0] == doctest::Approx(std::exp(3.0) / d0).epsilon(1e-6));
  CHECK(wh[3] == doctest::Approx(std::exp(2.0) / d1).epsilon(1e-6));
  softmax_top_k(be, cmat(zb, 2, 4), 2, true, mat(w, 2, 2), mat(ids, 2, 2));
  const auto wr = back(be, w);
  CHECK(wr[0] + wr[1] == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(wr[2] == doctest::Approx(0.5).epsilon(1e-6));
  row_top_k(be, cmat(zb, 2, 4), 0, mat(v, 2, 0), mat(ids, 2, 0));  // k = 0 writes nothing
  row_argmax(be, cmat(zb, 2, 4), arg.view());
  CHECK(back(be, arg) == std::vector<index_type>{1, 0});
  row_argmin(be, cmat(zb, 2, 4), arg.view());
  CHECK(back(be, arg) == std::vector<index_type>{3, 3});
  CHECK_THROWS_AS(row_top_k(be, cmat(zb, 2, 4), 5, mat(v, 2, 2), mat(ids, 2, 2)), beacon::error);
  CHECK_THROWS_AS(row_argmax(be, cmat(zb, 2, 4), beacon::vector_view<index_type, S>(arg.view().data(), 1)), beacon::shape_error);
  if constexpr (checks_data) {
    auto zn = on(be, std::vector<float>{1, 2, 3, 4, 1, std::nanf(""), 0, 0});
    CHECK_THROWS_AS(row_top_k(be, cmat(zn, 2, 4), 1, mat(v, 2, 1), mat(ids, 2, 1)), beacon::value_error);
    CHECK_THROWS_AS(row_argmax(be, cmat(zn, 2, 4), arg.view()), beacon::value_error);
  }
  // Many ties (integer logits) and k > 16 (the partial-sort path) against the reference.
  auto run = [&](const auto& b, size_type k) {
    std::vector<float> zi = normal_values<float>(30 * 40, 6, 3.0);
    for (auto& e : zi) e = std::round(e);
    auto zs = on(b, zi), vs = on(b, std::vector<float>(count_of(30 * k))), ws = on(b, std::vector<float>(count_of(30 * k)));
    auto is = on(b, std::vector<index_type>(count_of(30 * k))), js = on(b, std::vector<index_type>(count_of(30 * k)));
    row_top_k(b, cmat(zs, 30, 40), k, mat(vs, 30, k), mat(is, 30, k));
    softmax_top_k(b, cmat(zs, 30, 40), k, true, mat(ws, 30, k), mat(js, 30, k));
    std::vector<double> r;
    for (auto e : back(b, vs)) r.push_back(e);
    for (auto e : back(b, ws)) r.push_back(e);
    for (auto e : back(b, is)) r.push_back(static_cast<double>(e));
    for (auto e : back(b, js)) r.push_back(static_cast<double>(e));
    return r;
  };
  against_reference<float>(be, [&](const auto& b) { return run(b, 3); });
  against_reference<float>(be, [&](const auto& b) { return run(b, 20); });
}

TEST_CASE_TEMPLATE_DEFINE("conformance: gemm (four transposes, beta rules, k = 0, inner-dimension errors)", B, conformance_gemm) {
  BEACON_CONFORMANCE_SETUP;
  const size_type m = 7, n = 5, k = 9;
  const auto a = normal_values<double>(m * k, 7), b = normal_values<double>(k * n, 8);
  std::vector<double> at(a.size()), bt(b.size()), want(count_of(m * n), 0);
  for (size_type i = 0; i < m; ++i)
    for (size_type p = 0; p < k; ++p) at[count_of(p * m + i)] = a[count_of(i * k + p)];
  for (size_type p = 0; p < k; ++p)
    for (size_type j = 0; j < n; ++j) bt[count_of(j * k + p)] = b[count_of(p * n + j)];
  for (size_type i = 0; i < m; ++i)
    for (size_type j = 0; j < n; ++j)
      for (size_type p = 0; p < k; ++p) want[count_of(i * n + j)] += a[count_of(i * k + p)] * b[count_of(p * n + j)];
  auto ab = on(be, a), bb = on(be, b), atb = on(be, at), btb = on(be, bt);
  for (const auto ta : {beacon::transpose::no, beacon::transpose::yes})
    for (const auto tb : {beacon::transpose::no, beacon::transpose::yes}) {
      auto c = on(be, std::vector<double>(count_of(m * n), std::nan("")));  // beta = 0 never reads c
      const auto av = ta == beacon::transpose::no ? cmat(ab, m, k) : cmat(atb, k, m);
      const auto bv = tb == beacon::transpose::no ? cmat(bb, k, n) : cmat(btb, n, k);
      gemm(be, ta, tb, 2.0, av, bv, 0.0, mat(c, m, n));
      std::vector<double> twice(want);
      for (auto& e : twice) e *= 2;
      CHECK(worst(back(be, c), twice) < 1e-13);
    }
  auto c = on(be, std::vector<double>(count_of(m * n), 1.0));
  gemm(be, beacon::transpose::no, beacon::transpose::no, 1.0, cmat(ab, m, k), cmat(bb, k, n), 3.0, mat(c, m, n));
  std::vector<double> plus(want);
  for (auto& e : plus) e += 3;
  CHECK(worst(back(be, c), plus) < 1e-13);
  gemm(be, beacon::transpose::no, beacon::transpose::no, 1.0, cmat(ab, m, 0), cmat(bb, 0, n), 0.5, mat(c, m, n));  // k = 0: c = beta c
  std::vector<double> half(plus);
  for (auto& e : half) e *= 0.5;
  CHECK(worst(back(be, c), half) < 1e-13);
  CHECK_THROWS_WITH_AS(gemm(be, beacon::transpose::no, beacon::transpose::no, 1.0, cmat(ab, m, k), cmat(bb, n, k), 0.0, mat(c, m, n)),
                       doctest::Contains("inner dimension"), beacon::shape_error);
  CHECK_THROWS_AS(gemm(be, beacon::transpose::no, beacon::transpose::no, 1.0, cmat(ab, m, k), cmat(bb, k, n), 0.0, mat(c, n, m)),
                  beacon::shape_error);
  against_reference<float>(be, [&](const auto& bk) {
    auto x = on(bk, normal_values<float>(64 * 48, 9)), y = on(bk, normal_values<float>(40 * 48, 10)), z = on(bk, std::vector<float>(64 * 40));
    gemm(bk, beacon::transpose::no, beacon::transpose::yes, 1.0f, cmat(x, 64, 48), cmat(y, 40, 48), 0.0f, mat(z, 64, 40));
    return back(bk, z);
  });
}

TEST_CASE_TEMPLATE_DEFINE("conformance: gather_rows, scatter_rows and group_rows_by_key (repeats, untouched rows, stability, ranges)", B,
                          conformance_rows) {
  BEACON_CONFORMANCE_SETUP;
  const std::vector<double> src = {0, 1, 10, 11, 20, 21};  // 3 x 2
  auto sb = on(be, src), dst = on(be, std::vector<double>(6, -1));
  auto idx = on(be, std::vector<index_type>{2, 0, 2});
  gather_rows(be, cmat(sb, 3, 2), beacon::vector_view<const index_type, S>(idx.view()), mat(dst, 3, 2));
  CHECK(back(be, dst) == std::vector<double>{20, 21, 0, 1, 20, 21});
  auto big = on(be, std::vector<double>(8, -1));
  auto sidx = on(be, std::vector<index_type>{3, 0});
  scatter_rows(be, cmat(sb, 2, 2), beacon::vector_view<const index_type, S>(sidx.view()), mat(big, 4, 2));
  CHECK(back(be, big) == std::vector<double>{10, 11, -1, -1, -1, -1, 0, 1});  // rows 1, 2 untouched
  auto keys = on(be, std::vector<index_type>{2, 0, 2, 1, 0, 2}), offsets = on(be, std::vector<index_type>(4)),
       perm = on(be, std::vector<index_type>(6));
  group_rows_by_key(be, beacon::vector_view<const index_type, S>(keys.view()), 3, offsets.view(), perm.view());
  CHECK(back(be, offsets) == std::vector<index_type>{0, 2, 3, 6});
  CHECK(back(be, perm) == std::vector<index_type>{1, 4, 3, 0, 2, 5});  // stable within a group
  CHECK_THROWS_AS(gather_rows(be, cmat(sb, 3, 2), beacon::vector_view<const index_type, S>(idx.view()), mat(dst, 2, 3)), beacon::shape_error);
  if constexpr (checks_data) {
    auto out_of_range = on(be, std::vector<index_type>{0, 3, 1});
    CHECK_THROWS_WITH_AS(gather_rows(be, cmat(sb, 3, 2), beacon::vector_view<const index_type, S>(out_of_range.view()), mat(dst, 3, 2)),
                         doctest::Contains("[0, 3)"), beacon::value_error);
    auto repeat = on(be, std::vector<index_type>{1, 1});
    CHECK_THROWS_WITH_AS(scatter_rows(be, cmat(sb, 2, 2), beacon::vector_view<const index_type, S>(repeat.view()), mat(big, 4, 2)),
                         doctest::Contains("distinct"), beacon::value_error);
    CHECK_THROWS_AS(group_rows_by_key(be, beacon::vector_view<const index_type, S>(keys.view()), 2, beacon::vector_view<index_type, S>(offsets.view().data(), 3),
                                      perm.view()),
                    beacon::value_error);
  }
}

TEST_CASE_TEMPLATE_DEFINE("conformance: random (normal and uniform draws are the Philox stream's elements, noise rows)", B,
                          conformance_random) {
  BEACON_CONFORMANCE_SETUP;
  const beacon::philox_stream noise{1234, 77};
  const size_type rows = 9, cols = 13;
  auto nb = on(be, std::vector<float>(count_of(rows * cols)));
  auto ub = on(be, std::vector<double>(count_of(rows * cols)));
  fill_normal(be, noise, mat(nb, rows, cols));
  fill_uniform(be, noise, mat(ub, rows, cols));
  const auto n = back(be, nb);
  const auto u = back(be, ub);
  bool normal_exact = true, uniform_exact = true, in_open_interval = true;
  for (size_type i = 0; i < rows * cols; ++i) {
    normal_exact = normal_exact && n[count_of(i)] == noise.normal(static_cast<std::uint64_t>(i));
    uniform_exact = uniform_exact && u[count_of(i)] == noise.uniform_double(static_cast<std::uint64_t>(i));
    in_open_interval = in_open_interval && u[count_of(i)] > 0 && u[count_of(i)] < 1;
  }
  CHECK(normal_exact);
  CHECK(uniform_exact);
  CHECK(in_open_interval);
  const std::vector<double> a = {1, 0.5, 0}, b = {0, 2, 1}, c = {0, 0, 3};
  const auto x = normal_values<double>(3 * 4, 11), y = normal_values<double>(3 * 4, 12);
  auto ab = on(be, a), bb = on(be, b), cb = on(be, c), xb = on(be, x), yb = on(be, y), out = on(be, std::vector<double>(12));
  using cv = beacon::vector_view<const double, S>;
  row_axpby_noise(be, cv(ab.view()), cmat(xb, 3, 4), cv(bb.view()), noise, mat(out, 3, 4));
  const auto o1 = back(be, out);
  double w1 = 0;
  for (size_type i = 0; i < 3; ++i)
    for (size_type j = 0; j < 4; ++j)
      w1 = std::max(w1, std::abs(o1[count_of(i * 4 + j)] - (a[count_of(i)] * x[count_of(i * 4 + j)] + b[count_of(i)] * noise.normal(static_cast<std::uint64_t>(i * 4 + j)))));
  CHECK(w1 < 1e-15);
  row_axpbypcz_noise(be, cv(ab.view()), cmat(xb, 3, 4), cv(bb.view()), cmat(yb, 3, 4), cv(cb.view()), noise, mat(out, 3, 4));
  const auto o2 = back(be, out);
  for (size_type j = 0; j < 4; ++j) {
    CHECK(o2[count_of(j)] == x[count_of(j)]);                                 // c = 0: exactly a x + b y, no draw
    CHECK(o2[count_of(4 + j)] == 0.5 * x[count_of(4 + j)] + 2 * y[count_of(4 + j)]);
  }
  CHECK(std::abs(o2[8] - (y[8] + 3.0 * noise.normal(8))) < 1e-14);
  CHECK_THROWS_AS(row_axpby_noise(be, cv(ab.view()), cmat(xb, 4, 3), cv(bb.view()), noise, mat(out, 4, 3)), beacon::shape_error);
}

TEST_CASE_TEMPLATE_DEFINE("conformance: layers (activations against their definitions and finite differences, AdamW's first step)", B,
                          conformance_layers) {
  BEACON_CONFORMANCE_SETUP;
  const size_type rows = 4, cols = 6;
  const auto z0 = normal_values<double>(rows * cols, 13, 2.0), gate = normal_values<double>(rows * cols, 14), dy = normal_values<double>(rows * cols, 15);
  const auto bias = normal_values<double>(cols, 16);
  for (const auto act : {beacon::activation::relu, beacon::activation::silu, beacon::activation::gelu, beacon::activation::identity}) {
    CAPTURE(beacon::activation_name(act));
    auto zb = on(be, z0), ab = on(be, std::vector<double>(count_of(rows * cols))), bb = on(be, bias);
    bias_activation(be, act, beacon::vector_view<const double, S>(bb.view()), mat(zb, rows, cols), mat(ab, rows, cols));
    const auto zh = back(be, zb), ah = back(be, ab);
    double wz = 0, wa = 0;
    for (size_type i = 0; i < rows * cols; ++i) {
      const double want_z = z0[count_of(i)] + bias[count_of(i % cols)];
      wz = std::max(wz, std::abs(zh[count_of(i)] - want_z));
      wa = std::max(wa, std::abs(ah[count_of(i)] - beacon::activate(act, want_z)));
    }
    CHECK(wz < 1e-15);
    CHECK(wa < 1e-14);
    // activation_backward against a central difference of the activation itself.
    auto dyb = on(be, dy), dz = on(be, std::vector<double>(count_of(rows * cols)));
    activation_backward(be, act, cmat(zb, rows, cols), cmat(dyb, rows, cols), mat(dz, rows, cols));
    const auto dzh = back(be, dz);
    double wd = 0;
    for (size_type i = 0; i < rows * cols; ++i) {
      const double zc = zh[count_of(i)], h = 1e-6;
      if (act == beacon::activation::relu && std::abs(zc) < 1e-5) continue;  // the kink
      const double fd = (beacon::activate(act, zc + h) - beacon::activate(act, zc - h)) / (2 * h);
      wd = std::max(wd, std::abs(dzh[count_of(i)] - dy[count_of(i)] * fd));
    }
    CHECK(wd < 1e-7);
    // Gated: u = act(a) b, and its backward against finite differences of u.
    auto gb = on(be, gate), u = on(be, std::vector<double>(count_of(rows * cols))), da = on(be, std::vector<double>(count_of(rows * cols))),
         db = on(be, std::vector<double>(count_of(rows * cols)));
    gated_activation(be, act, cmat(zb, rows, cols), cmat(gb, rows, cols), mat(u, rows, cols));
    gated_activation_backward(be, act, cmat(zb, rows, cols), cmat(gb, rows, cols), cmat(dyb, rows, cols), mat(da, rows, cols), mat(db, rows, cols));
    const auto uh = back(be, u), dah = back(be, da), dbh = back(be, db);
    double wu = 0, wg = 0;
    for (size_type i = 0; i < rows * cols; ++i) {
      const double zc = zh[count_of(i)], g = gate[count_of(i)], h = 1e-6;
      wu = std::max(wu, std::abs(uh[count_of(i)] - beacon::activate(act, zc) * g));
      wg = std::max(wg, std::abs(dbh[count_of(i)] - dy[count_of(i)] * beacon::activate(act, zc)));
      if (act == beacon::activation::relu && std::abs(zc) < 1e-5) continue;
      const double fd = (beacon::activate(act, zc + h) - beacon::activate(act, zc - h)) * g / (2 * h);
      wg = std::max(wg, std::abs(dah[count_of(i)] - dy[count_of(i)] * fd));
    }
    CHECK(wu < 1e-14);
    CHECK(wg < 1e-7);
    gated_activation(be, act, cmat(zb, rows, cols), cmat(gb, rows, cols), mat(zb, rows, cols));  // u may alias a
    CHECK(back(be, zb) == uh);
  }
  // AdamW's first step from zero moments: theta - lr (g / (|g| + eps') + wd theta), eps' = eps (bias corrected).
  beacon::adamw opt;
  opt.lr = 0.1;
  opt.weight_decay = 0.01;
  opt.next_step();
  const beacon::adamw_coefficients c = opt.coefficients();
  const std::vector<double> theta = {1, -2, 0.5}, g = {0.3, -0.1, 0};
  auto tb = on(be, theta), gbuf = on(be, g), mb = on(be, std::vector<double>(3, 0)), vb = on(be, std::vector<double>(3, 0));
  adamw_step(be, c, tb.view(), beacon::vector_view<const double, S>(gbuf.view()), mb.view(), vb.view());
  const auto th = back(be, tb);
  for (std::size_t i = 0; i < 3; ++i)
    CHECK(th[i] == doctest::Approx(theta[i] - 0.1 * (g[i] / (std::abs(g[i]) + opt.eps) + 0.01 * theta[i])).epsilon(1e-12));
  CHECK(back(be, mb)[0] == doctest::Approx(0.1 * 0.3).epsilon(1e-13));
  CHECK_THROWS_AS(adamw_step(be, c, tb.view(), beacon::vector_view<const double, S>(gbuf.view().data(), 2), mb.view(), vb.view()),
                  beacon::shape_error);
  auto z1 = on(be, z0), a1 = on(be, z0);
  CHECK_THROWS_AS(bias_activation(be, beacon::activation::relu, beacon::vector_view<const double, S>(gbuf.view()), mat(z1, rows, cols),
                                  mat(a1, rows, cols)),
                  beacon::shape_error);
}

TEST_CASE_TEMPLATE_DEFINE("conformance: masked_mean_pool (hand values, float and byte masks, an empty row)", B, conformance_pool) {
  BEACON_CONFORMANCE_SETUP;
  const std::vector<double> tok = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};  // B = 2, L = 3, D = 2
  auto tb = on(be, tok), out = on(be, std::vector<double>(4));
  auto mb = on(be, std::vector<std::uint8_t>{1, 0, 1, 0, 1, 0});
  masked_mean_pool(be, cmat(tb, 6, 2), cmat(mb, 2, 3), mat(out, 2, 2));
  CHECK(back(be, out) == std::vector<double>{3, 4, 9, 10});
  auto fm = on(be, std::vector<double>{1, 1, 1, 0, 0, 1});
  masked_mean_pool(be, cmat(tb, 6, 2), cmat(fm, 2, 3), mat(out, 2, 2));
  CHECK(back(be, out) == std::vector<double>{3, 4, 11, 12});
  CHECK_THROWS_AS(masked_mean_pool(be, cmat(tb, 6, 2), cmat(mb, 3, 2), mat(out, 2, 2)), beacon::shape_error);
  if constexpr (checks_data) {
    auto empty = on(be, std::vector<std::uint8_t>{1, 0, 0, 0, 0, 0});
    CHECK_THROWS_WITH_AS(masked_mean_pool(be, cmat(tb, 6, 2), cmat(empty, 2, 3), mat(out, 2, 2)), doctest::Contains("all-zero row 1"),
                         beacon::value_error);
  }
}

TEST_CASE_TEMPLATE_DEFINE("conformance: determinism (a chain of primitives rerun gives bit-identical results)", B, conformance_determinism) {
  BEACON_CONFORMANCE_SETUP;
  auto chain = [&] {
    auto x = on(be, normal_values<float>(200 * 64, 17)), w = on(be, normal_values<float>(64 * 64, 18));
    auto h = on(be, std::vector<float>(200 * 64)), p = on(be, std::vector<float>(200 * 64)), cs = on(be, std::vector<float>(64, 0));
    auto total = on(be, std::vector<float>(1));
    gemm(be, beacon::transpose::no, beacon::transpose::no, 1.0f, cmat(x, 200, 64), cmat(w, 64, 64), 0.0f, mat(h, 200, 64));
    row_softmax(be, cmat(h, 200, 64), mat(p, 200, 64));
    add_column_sums(be, cmat(p, 200, 64), cs.view());
    sum(be, beacon::vector_view<const float, S>(h.view()), total.view());
    auto r = back(be, p);
    const auto c = back(be, cs), t = back(be, total);
    r.insert(r.end(), c.begin(), c.end());
    r.insert(r.end(), t.begin(), t.end());
    return r;
  };
  const auto first = chain();
  CHECK(chain() == first);
}

/// Instantiates the whole suite for the backend types given.
#define BEACON_CONFORMANCE_SUITE(...)                                       \
  TEST_CASE_TEMPLATE_INVOKE(conformance_memory, __VA_ARGS__);              \
  TEST_CASE_TEMPLATE_INVOKE(conformance_elementwise, __VA_ARGS__);         \
  TEST_CASE_TEMPLATE_INVOKE(conformance_loops, __VA_ARGS__);               \
  TEST_CASE_TEMPLATE_INVOKE(conformance_sums, __VA_ARGS__);                \
  TEST_CASE_TEMPLATE_INVOKE(conformance_softmax, __VA_ARGS__);             \
  TEST_CASE_TEMPLATE_INVOKE(conformance_top_k, __VA_ARGS__);               \
  TEST_CASE_TEMPLATE_INVOKE(conformance_gemm, __VA_ARGS__);                \
  TEST_CASE_TEMPLATE_INVOKE(conformance_rows, __VA_ARGS__);                \
  TEST_CASE_TEMPLATE_INVOKE(conformance_random, __VA_ARGS__);              \
  TEST_CASE_TEMPLATE_INVOKE(conformance_layers, __VA_ARGS__);              \
  TEST_CASE_TEMPLATE_INVOKE(conformance_pool, __VA_ARGS__);                \
  TEST_CASE_TEMPLATE_INVOKE(conformance_determinism, __VA_ARGS__)
