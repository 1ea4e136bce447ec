// SPDX-License-Identifier: Apache-2.0
// CPU GEMM against a naive triple loop in long double, for every transpose combination.
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

using beacon::size_type;
using beacon::transpose;

namespace {
/// A random rows x cols matrix stored with `pad` extra columns per row (ld = cols + pad).
template <class T>
struct padded {
  std::vector<T> data;
  beacon::matrix_view<T> view;
  padded(size_type rows, size_type cols, size_type pad, unsigned seed)
      : data(static_cast<std::size_t>(rows * (cols + pad) + 1)) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    for (auto& v : data) v = static_cast<T>(dist(gen));
    view = beacon::host_matrix(data.data(), rows, cols, cols + pad);
  }
};

template <class T>
void check_gemm_case(transpose ta, transpose tb, size_type m, size_type n, size_type k, T alpha, T beta, double tol) {
  padded<T> a(ta == transpose::no ? m : k, ta == transpose::no ? k : m, 3, 1);
  padded<T> b(tb == transpose::no ? k : n, tb == transpose::no ? n : k, 1, 2);
  padded<T> c(m, n, 2, 3);
  std::vector<long double> expected(static_cast<std::size_t>(m * n));
  for (size_type i = 0; i < m; ++i)
    for (size_type j = 0; j < n; ++j) {
      long double acc = 0;
      for (size_type p = 0; p < k; ++p) {
        const T av = ta == transpose::no ? a.view(i, p) : a.view(p, i);
        const T bv = tb == transpose::no ? b.view(p, j) : b.view(j, p);
        acc += static_cast<long double>(av) * bv;
      }
      expected[static_cast<std::size_t>(i * n + j)] = alpha * acc + beta * static_cast<long double>(c.view(i, j));
    }
  const T pad_before = c.view.row(0)[n];  // padding between rows must stay untouched
  beacon::gemm(beacon::cpu{2}, ta, tb, alpha, a.view, b.view, beta, c.view);
  double worst = 0;
  for (size_type i = 0; i < m; ++i)
    for (size_type j = 0; j < n; ++j)
      worst = std::max(worst, static_cast<double>(std::abs(c.view(i, j) - expected[static_cast<std::size_t>(i * n + j)])));
  CHECK(worst <= tol * static_cast<double>(k + 1));
  if (m > 0 && n > 0) CHECK(c.view.row(0)[n] == pad_before);
}
}  // namespace

TEST_CASE_TEMPLATE("gemm matches the naive product for all transposes, strides, alpha and beta", T, float, double) {
  const double eps = std::numeric_limits<T>::epsilon();
  for (auto ta : {transpose::no, transpose::yes})
    for (auto tb : {transpose::no, transpose::yes}) {
      CAPTURE(static_cast<int>(ta));
      CAPTURE(static_cast<int>(tb));
      check_gemm_case<T>(ta, tb, 7, 5, 3, T(1), T(0), 4 * eps);
      check_gemm_case<T>(ta, tb, 33, 17, 65, T(0.5), T(-2), 4 * eps);
      check_gemm_case<T>(ta, tb, 130, 70, 257, T(-1.25), T(1), 4 * eps);
    }
}

TEST_CASE("gemm with beta = 0 never reads C (NaN in C does not leak)") {
  std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 8};
  std::vector<float> c(4, std::numeric_limits<float>::quiet_NaN());
  beacon::gemm(beacon::cpu{1}, transpose::no, transpose::no, 1.0f, beacon::host_matrix<const float>(a.data(), 2, 2),
               beacon::host_matrix<const float>(b.data(), 2, 2), 0.0f, beacon::host_matrix(c.data(), 2, 2));
  CHECK(c == std::vector<float>{19, 22, 43, 50});
}

TEST_CASE("gemm edge shapes: k = 0 scales C by beta, empty C is a no-op") {
  std::vector<double> c = {1, 2, 3, 4};
  beacon::gemm(beacon::cpu{1}, transpose::no, transpose::no, 1.0, beacon::host_matrix<const double>(nullptr, 2, 0),
               beacon::host_matrix<const double>(nullptr, 0, 2), 3.0, beacon::host_matrix(c.data(), 2, 2));
  CHECK(c == std::vector<double>{3, 6, 9, 12});
  beacon::gemm(beacon::cpu{1}, transpose::no, transpose::no, 1.0, beacon::host_matrix<const double>(nullptr, 2, 0),
               beacon::host_matrix<const double>(nullptr, 0, 2), 0.0, beacon::host_matrix(c.data(), 2, 2));
  CHECK(c == std::vector<double>{0, 0, 0, 0});
  CHECK_NOTHROW(beacon::gemm(beacon::cpu{1}, transpose::no, transpose::no, 1.0,
                             beacon::host_matrix<const double>(nullptr, 0, 3),
                             beacon::host_matrix<const double>(c.data(), 3, 1), 0.0,
                             beacon::host_matrix<double>(nullptr, 0, 1)));
}

TEST_CASE("gemm rejects mismatched shapes naming the argument") {
  std::vector<float> buf(64);
  const auto a = beacon::host_matrix<const float>(buf.data(), 2, 3);
  const auto b = beacon::host_matrix<const float>(buf.data(), 4, 2);
  auto c = beacon::host_matrix(buf.data(), 2, 2);
  try {
    beacon::gemm(beacon::cpu{1}, transpose::no, transpose::no, 1.0f, a, b, 0.0f, c);
    FAIL("expected shape_error");
  } catch (const beacon::shape_error& e) {
    CHECK(std::string(e.what()) == "beacon::gemm: argument 'b' expected inner dimension 3 (from op(a)), got 4");
  }
  const auto b_ok = beacon::host_matrix<const float>(buf.data(), 3, 2);
  auto c_bad = beacon::host_matrix(buf.data(), 3, 2);
  CHECK_THROWS_WITH_AS(beacon::gemm(beacon::cpu{1}, transpose::no, transpose::no, 1.0f, a, b_ok, 0.0f, c_bad),
                       "beacon::gemm: argument 'c' expected rows = 2, got 3", beacon::shape_error);
}
