// SPDX-License-Identifier: Apache-2.0
// Row softmax, top-k, the fused router primitive and arg-max/arg-min on the CPU backend.
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

using beacon::index_type;
using beacon::size_type;

namespace {
constexpr float inf = std::numeric_limits<float>::infinity();
constexpr float qnan = std::numeric_limits<float>::quiet_NaN();

std::vector<float> random_logits(size_type rows, size_type cols, unsigned seed, bool with_ties = false) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (auto& v : x) v = with_ties ? std::round(dist(gen)) : dist(gen);  // rounding makes many ties
  return x;
}

struct top_k_result {
  std::vector<float> values;
  std::vector<index_type> ids;
};

top_k_result top_k(const beacon::cpu& be, const std::vector<float>& x, size_type rows, size_type cols, size_type k) {
  top_k_result r{std::vector<float>(static_cast<std::size_t>(rows * k)), std::vector<index_type>(static_cast<std::size_t>(rows * k))};
  beacon::row_top_k(be, beacon::host_matrix(x.data(), rows, cols), k, beacon::host_matrix(r.values.data(), rows, k),
                    beacon::host_matrix(r.ids.data(), rows, k));
  return r;
}

// Brute force: stable sort of indices by value descending (stable => lower index first on ties).
std::vector<index_type> brute_top_k(const float* row, size_type cols, size_type k) {
  std::vector<index_type> idx(static_cast<std::size_t>(cols));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [row](index_type a, index_type b) { return row[a] > row[b]; });
  idx.resize(static_cast<std::size_t>(k));
  return idx;
}
}  // namespace

TEST_CASE("row_softmax: hand-computed values, rows sum to 1, in-place") {
  // softmax(0, ln 2, ln 3) = (1, 2, 3) / 6
  std::vector<double> x = {0.0, std::log(2.0), std::log(3.0), 5.0, 5.0, 5.0};
  std::vector<double> y(6);
  beacon::row_softmax(beacon::cpu{1}, beacon::host_matrix<const double>(x.data(), 2, 3), beacon::host_matrix(y.data(), 2, 3));
  CHECK(y[0] == doctest::Approx(1.0 / 6).epsilon(1e-15));
  CHECK(y[1] == doctest::Approx(2.0 / 6).epsilon(1e-15));
  CHECK(y[2] == doctest::Approx(3.0 / 6).epsilon(1e-15));
  CHECK(y[3] == doctest::Approx(1.0 / 3).epsilon(1e-15));
  beacon::row_softmax(beacon::cpu{1}, beacon::host_matrix<const double>(x.data(), 2, 3), beacon::host_matrix(x.data(), 2, 3));
  CHECK(x == y);  // aliasing in == out is allowed and gives the same result

  const auto z = random_logits(300, 37, 5);
  std::vector<float> p(z.size());
  beacon::row_softmax(beacon::cpu{2}, beacon::host_matrix(z.data(), 300, 37), beacon::host_matrix(p.data(), 300, 37));
  for (size_type i = 0; i < 300; ++i) {
    double s = 0;
    for (size_type j = 0; j < 37; ++j) s += p[static_cast<std::size_t>(i * 37 + j)];
    CHECK(s == doctest::Approx(1.0).epsilon(1e-6));
  }
}

TEST_CASE("row_softmax is shift invariant, stable for huge logits, and treats -inf as a mask") {
  std::vector<float> x = {1000.0f, 999.0f, -inf, 998.0f};
  std::vector<float> shifted = {2.0f, 1.0f, -inf, 0.0f};
  std::vector<float> a(4), b(4);
  beacon::row_softmax(beacon::cpu{1}, beacon::host_matrix(x.data(), 1, 4), beacon::host_matrix(a.data(), 1, 4));
  beacon::row_softmax(beacon::cpu{1}, beacon::host_matrix(shifted.data(), 1, 4), beacon::host_matrix(b.data(), 1, 4));
  CHECK(a[2] == 0.0f);
  for (int j = 0; j < 4; ++j) CHECK(a[j] == doctest::Approx(b[j]).epsilon(1e-6));
  const double e1 = std::exp(-1.0), e2 = std::exp(-2.0);
  CHECK(a[0] == doctest::Approx(1.0 / (1 + e1 + e2)).epsilon(1e-6));
}

TEST_CASE("row_softmax rejects NaN, +inf and all -inf rows naming the row, empty and 1-element inputs") {
  std::vector<float> x = {0, 1, 2, qnan, 0, 1};
  std::vector<float> y(6);
  CHECK_THROWS_WITH_AS(beacon::row_softmax(beacon::cpu{1}, beacon::host_matrix(x.data(), 2, 3), beacon::host_matrix(y.data(), 2, 3)),
                       "beacon::row_softmax: argument 'in' expected finite logits (no NaN or +inf, at least one value > -inf per row), got a non-finite value in row 1",
                       beacon::value_error);
  x = {0, inf, 1};
  CHECK_THROWS_AS(beacon::row_softmax(beacon::cpu{1}, beacon::host_matrix(x.data(), 1, 3), beacon::host_matrix(y.data(), 1, 3)),
                  beacon::value_error);
  x = {-inf, -inf};
  CHECK_THROWS_AS(beacon::row_softmax(beacon::cpu{1}, beacon::host_matrix(x.data(), 1, 2), beacon::host_matrix(y.data(), 1, 2)),
                  beacon::value_error);
  CHECK_THROWS_AS(beacon::row_softmax(beacon::cpu{1}, beacon::host_matrix(x.data(), 1, 2), beacon::host_matrix(y.data(), 2, 1)),
                  beacon::shape_error);
  CHECK_NOTHROW(beacon::row_softmax(beacon::cpu{1}, beacon::host_matrix<const float>(nullptr, 0, 8),
                                    beacon::host_matrix<float>(nullptr, 0, 8)));
  x = {-3.5f};
  beacon::row_softmax(beacon::cpu{1}, beacon::host_matrix(x.data(), 1, 1), beacon::host_matrix(y.data(), 1, 1));
  CHECK(y[0] == 1.0f);
}

TEST_CASE("row_top_k: descending values, ties to the lower index, k = 0 and k = E") {
  std::vector<float> x = {1, 3, 3, 2, 3, 0};
  auto r = top_k(beacon::cpu{1}, x, 1, 6, 3);
  CHECK(r.ids == std::vector<index_type>{1, 2, 4});
  CHECK(r.values == std::vector<float>{3, 3, 3});
  r = top_k(beacon::cpu{1}, x, 1, 6, 6);
  CHECK(r.ids == std::vector<index_type>{1, 2, 4, 3, 0, 5});
  r = top_k(beacon::cpu{1}, x, 1, 6, 0);
  CHECK(r.ids.empty());
  std::vector<float> masked = {-inf, -inf, 5, -inf};
  r = top_k(beacon::cpu{1}, masked, 1, 4, 2);
  CHECK(r.ids == std::vector<index_type>{2, 0});
  CHECK(r.values[1] == -inf);
}

TEST_CASE("row_top_k agrees with a stable brute-force sort on tie-heavy data (insertion and partial-sort paths)") {
  for (size_type k : {1, 2, 8, 16, 17, 40, 64}) {
    const size_type rows = 50, cols = 64;
    const auto x = random_logits(rows, cols, static_cast<unsigned>(k), true);
    const auto r = top_k(beacon::cpu{2}, x, rows, cols, k);
    for (size_type i = 0; i < rows; ++i) {
      const auto expect = brute_top_k(x.data() + i * cols, cols, k);
      CAPTURE(k);
      CAPTURE(i);
      CHECK(std::equal(expect.begin(), expect.end(), r.ids.begin() + i * k));
    }
  }
}

TEST_CASE("row_top_k rejects k > E, k < 0, wrong output shapes and NaN") {
  std::vector<float> x = {1, 2, 3, 4};
  std::vector<float> v(8);
  std::vector<index_type> id(8);
  auto in = beacon::host_matrix<const float>(x.data(), 2, 2);
  CHECK_THROWS_WITH_AS(beacon::row_top_k(beacon::cpu{1}, in, 3, beacon::host_matrix(v.data(), 2, 3), beacon::host_matrix(id.data(), 2, 3)),
                       "beacon::row_top_k: argument 'k' expected <= number of columns (2), got 3", beacon::value_error);
  CHECK_THROWS_AS(beacon::row_top_k(beacon::cpu{1}, in, -1, beacon::host_matrix(v.data(), 2, 0), beacon::host_matrix(id.data(), 2, 0)),
                  beacon::value_error);
  CHECK_THROWS_AS(beacon::row_top_k(beacon::cpu{1}, in, 1, beacon::host_matrix(v.data(), 3, 1), beacon::host_matrix(id.data(), 2, 1)),
                  beacon::shape_error);
  CHECK_THROWS_AS(beacon::row_top_k(beacon::cpu{1}, in, 1, beacon::host_matrix(v.data(), 2, 1), beacon::host_matrix(id.data(), 2, 2)),
                  beacon::shape_error);
  x[3] = qnan;
  CHECK_THROWS_WITH_AS(beacon::row_top_k(beacon::cpu{1}, in, 1, beacon::host_matrix(v.data(), 2, 1), beacon::host_matrix(id.data(), 2, 1)),
                       "beacon::row_top_k: argument 'in' expected no NaN, got NaN in row 1", beacon::value_error);
}

TEST_CASE("softmax_top_k equals row_softmax followed by row_top_k, renormalised rows sum to 1") {
  const size_type rows = 257, cols = 64, k = 2;
  const auto x = random_logits(rows, cols, 11, true);
  std::vector<float> probs(x.size());
  beacon::row_softmax(beacon::cpu{1}, beacon::host_matrix(x.data(), rows, cols), beacon::host_matrix(probs.data(), rows, cols));
  const auto ref = top_k(beacon::cpu{1}, probs, rows, cols, k);
  for (bool renormalize : {false, true}) {
    std::vector<float> w(static_cast<std::size_t>(rows * k));
    std::vector<index_type> ids(static_cast<std::size_t>(rows * k));
    beacon::softmax_top_k(beacon::cpu{2}, beacon::host_matrix(x.data(), rows, cols), k, renormalize,
                          beacon::host_matrix(w.data(), rows, k), beacon::host_matrix(ids.data(), rows, k));
    CHECK(ids == ref.ids);
    for (size_type i = 0; i < rows; ++i) {
      const auto at = [&](size_type p) { return static_cast<std::size_t>(i * k + p); };
      if (renormalize) {
        CHECK(w[at(0)] + w[at(1)] == doctest::Approx(1.0f).epsilon(1e-6));
        CHECK(w[at(0)] / w[at(1)] == doctest::Approx(ref.values[at(0)] / ref.values[at(1)]).epsilon(1e-5));
      } else {
        CHECK(w[at(0)] == doctest::Approx(ref.values[at(0)]).epsilon(1e-6));
        CHECK(w[at(1)] == doctest::Approx(ref.values[at(1)]).epsilon(1e-6));
      }
    }
  }
  // Hand case: logits (0, ln 3, ln 2, ln 4), k = 2 -> experts 3, 1 with p = 4/10, 3/10 (or 4/7, 3/7).
  std::vector<double> h = {0.0, std::log(3.0), std::log(2.0), std::log(4.0)};
  std::vector<double> hw(2);
  std::vector<index_type> hid(2);
  beacon::softmax_top_k(beacon::cpu{1}, beacon::host_matrix(h.data(), 1, 4), 2, false, beacon::host_matrix(hw.data(), 1, 2),
                        beacon::host_matrix(hid.data(), 1, 2));
  CHECK(hid == std::vector<index_type>{3, 1});
  CHECK(hw[0] == doctest::Approx(0.4).epsilon(1e-14));
  CHECK(hw[1] == doctest::Approx(0.3).epsilon(1e-14));
  beacon::softmax_top_k(beacon::cpu{1}, beacon::host_matrix(h.data(), 1, 4), 2, true, beacon::host_matrix(hw.data(), 1, 2),
                        beacon::host_matrix(hid.data(), 1, 2));
  CHECK(hw[0] == doctest::Approx(4.0 / 7).epsilon(1e-14));
}

TEST_CASE("softmax_top_k: thread count does not change a single bit, errors as row_softmax") {
  const size_type rows = 4096, cols = 64, k = 2;
  const auto x = random_logits(rows, cols, 3);
  std::vector<float> w1(static_cast<std::size_t>(rows * k)), w2(w1.size());
  std::vector<index_type> i1(w1.size()), i2(w1.size());
  beacon::softmax_top_k(beacon::cpu{1}, beacon::host_matrix(x.data(), rows, cols), k, true, beacon::host_matrix(w1.data(), rows, k),
                        beacon::host_matrix(i1.data(), rows, k));
  beacon::softmax_top_k(beacon::cpu{2}, beacon::host_matrix(x.data(), rows, cols), k, true, beacon::host_matrix(w2.data(), rows, k),
                        beacon::host_matrix(i2.data(), rows, k));
  CHECK(w1 == w2);
  CHECK(i1 == i2);
  std::vector<float> bad = {0, qnan};
  CHECK_THROWS_AS(beacon::softmax_top_k(beacon::cpu{1}, beacon::host_matrix(bad.data(), 1, 2), 1, true,
                                        beacon::host_matrix(w1.data(), 1, 1), beacon::host_matrix(i1.data(), 1, 1)),
                  beacon::value_error);
  CHECK_THROWS_AS(beacon::softmax_top_k(beacon::cpu{1}, beacon::host_matrix(bad.data(), 1, 2), 3, true,
                                        beacon::host_matrix(w1.data(), 1, 3), beacon::host_matrix(i1.data(), 1, 3)),
                  beacon::value_error);
}

TEST_CASE("row_argmax / row_argmin: ties to the lower index, NaN rejected, zero columns rejected") {
  std::vector<float> x = {1, 5, 5, 0, 0, 2, -1, -1};
  std::vector<index_type> out(2);
  beacon::row_argmax(beacon::cpu{1}, beacon::host_matrix(x.data(), 2, 4), beacon::host_vector(out.data(), 2));
  CHECK(out == std::vector<index_type>{1, 1});
  beacon::row_argmin(beacon::cpu{1}, beacon::host_matrix(x.data(), 2, 4), beacon::host_vector(out.data(), 2));
  CHECK(out == std::vector<index_type>{3, 2});
  beacon::row_argmax(beacon::cpu{1}, beacon::host_matrix(x.data(), 8, 1), beacon::host_vector(std::vector<index_type>(8).data(), 8));
  x[6] = qnan;
  CHECK_THROWS_WITH_AS(beacon::row_argmin(beacon::cpu{1}, beacon::host_matrix(x.data(), 2, 4), beacon::host_vector(out.data(), 2)),
                       "beacon::row_argmin: argument 'in' expected no NaN, got NaN in row 1", beacon::value_error);
  CHECK_THROWS_AS(beacon::row_argmax(beacon::cpu{1}, beacon::host_matrix(x.data(), 2, 0), beacon::host_vector(out.data(), 2)),
                  beacon::shape_error);
  CHECK_THROWS_AS(beacon::row_argmax(beacon::cpu{1}, beacon::host_matrix(x.data(), 2, 4), beacon::host_vector(out.data(), 1)),
                  beacon::shape_error);
}

TEST_CASE("row_logsumexp: hand values, stability for huge logits, masks, and the softmax input rules") {
  std::vector<double> x = {0.0, std::log(2.0), std::log(3.0), 1000.0, 1000.0, -INFINITY};
  std::vector<double> out(2);
  beacon::row_logsumexp(beacon::cpu{1}, beacon::host_matrix<const double>(x.data(), 2, 3), beacon::host_vector(out.data(), 2));
  CHECK(out[0] == doctest::Approx(std::log(6.0)).epsilon(1e-15));
  CHECK(out[1] == doctest::Approx(1000.0 + std::log(2.0)).epsilon(1e-15));
  x[1] = qnan;
  CHECK_THROWS_AS(beacon::row_logsumexp(beacon::cpu{1}, beacon::host_matrix<const double>(x.data(), 2, 3), beacon::host_vector(out.data(), 2)),
                  beacon::value_error);
  CHECK_THROWS_AS(beacon::row_logsumexp(beacon::cpu{1}, beacon::host_matrix<const double>(x.data(), 2, 3), beacon::host_vector(out.data(), 1)),
                  beacon::shape_error);
  CHECK_THROWS_AS(beacon::row_logsumexp(beacon::cpu{1}, beacon::host_matrix<const double>(x.data(), 2, 0), beacon::host_vector(out.data(), 2)),
                  beacon::shape_error);
}
