// SPDX-License-Identifier: Apache-2.0
// Views, Eigen interop, errors and the compile-time memory-space contract.
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>

#include <string>
#include <type_traits>

using beacon::device_space;
using beacon::host_space;
using beacon::matrix_view;
using beacon::vector_view;

namespace {
// Can `row_softmax(cpu, In, Out)` be called? Detects the memory-space constraint without a hard error.
template <class In, class Out>
constexpr bool softmax_callable = requires(const beacon::cpu& be, In in, Out out) { beacon::row_softmax(be, in, out); };
template <class In, class Out>
constexpr bool gemm_callable = requires(const beacon::cpu& be, In a, Out c) {
  beacon::gemm(be, beacon::transpose::no, beacon::transpose::no, 1.0f, a, a, 0.0f, c);
};

template <class Fn>
std::string message_of(Fn&& fn) {
  try {
    fn();
  } catch (const beacon::error& e) {
    return e.what();
  }
  return "<no exception>";
}
}  // namespace

// The compile-time contract: device views never reach a CPU operation.
static_assert(softmax_callable<matrix_view<const float, host_space>, matrix_view<float, host_space>>);
static_assert(softmax_callable<matrix_view<float, host_space>, matrix_view<float, host_space>>);
static_assert(!softmax_callable<matrix_view<const float, device_space>, matrix_view<float, device_space>>);
static_assert(!softmax_callable<matrix_view<const float, host_space>, matrix_view<float, device_space>>);
static_assert(!softmax_callable<matrix_view<const float, host_space>, matrix_view<double, host_space>>);
static_assert(gemm_callable<matrix_view<const double, host_space>, matrix_view<double, host_space>>);
static_assert(!gemm_callable<matrix_view<const double, device_space>, matrix_view<double, device_space>>);
static_assert(beacon::backend<beacon::cpu>);
static_assert(beacon::accepts_views<beacon::cpu, matrix_view<float, host_space>>);
static_assert(!beacon::accepts_views<beacon::cpu, matrix_view<float, device_space>>);
static_assert(std::is_trivially_copyable_v<matrix_view<float, device_space>>);
static_assert(std::is_convertible_v<matrix_view<float>, matrix_view<const float>>);
static_assert(!std::is_convertible_v<matrix_view<const float>, matrix_view<float>>);
static_assert(!std::is_convertible_v<matrix_view<float, host_space>, matrix_view<float, device_space>>);

TEST_CASE("matrix_view addresses row-major elements through the leading dimension") {
  float buf[12];
  for (int i = 0; i < 12; ++i) buf[i] = static_cast<float>(i);
  const auto v = beacon::host_matrix(buf, 3, 2, 4);  // 3 rows, 2 used columns of 4
  CHECK(v.rows() == 3);
  CHECK(v.cols() == 2);
  CHECK(v.ld() == 4);
  CHECK_FALSE(v.contiguous());
  CHECK(v(0, 1) == 1.0f);
  CHECK(v(1, 0) == 4.0f);
  CHECK(v(2, 1) == 9.0f);
  const auto block = v.row_block(1, 2);
  CHECK(block(0, 0) == 4.0f);
  CHECK(block(1, 1) == 9.0f);
  CHECK_THROWS_AS(v.row_block(2, 2), beacon::shape_error);
  const matrix_view<const float> cv = v;
  CHECK(cv.data() == v.data());
}

TEST_CASE("view constructors reject impossible shapes with named arguments") {
  float buf[4] = {};
  CHECK_THROWS_AS(beacon::host_matrix(buf, -1, 2), beacon::shape_error);
  CHECK(message_of([&] { beacon::host_matrix(buf, 2, 4, 3); }) ==
        "beacon::matrix_view: argument 'ld' expected >= cols (4), got 3");
  CHECK_THROWS_AS(beacon::host_matrix<float>(nullptr, 2, 2), beacon::value_error);
  CHECK_NOTHROW(beacon::host_matrix<float>(nullptr, 0, 5));
  CHECK_THROWS_AS(beacon::host_vector<float>(nullptr, 3), beacon::value_error);
  CHECK_THROWS_AS(beacon::host_vector(buf, -2), beacon::shape_error);
  auto vec = beacon::host_vector(buf, 4);
  CHECK(vec.as_matrix(2, 2)(1, 1) == 0.0f);
  CHECK_THROWS_AS(vec.as_matrix(3, 2), beacon::shape_error);
  CHECK_THROWS_AS(beacon::flatten(beacon::host_matrix(buf, 2, 1, 2)), beacon::shape_error);
  CHECK(beacon::flatten(beacon::host_matrix(buf, 2, 2)).size() == 4);
}

TEST_CASE("Eigen Map, Ref and Matrix convert to views without copying, and back") {
  beacon::row_matrix<double> m(3, 5);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j) m(i, j) = 10 * i + j;
  auto v = beacon::as_view(m);
  static_assert(std::is_same_v<decltype(v), matrix_view<double, host_space>>);
  CHECK(v.data() == m.data());
  CHECK(v(2, 3) == 23.0);

  // A block of a row-major matrix keeps the parent's leading dimension.
  auto blk = beacon::as_view(m.block(1, 1, 2, 3));
  CHECK(blk.ld() == 5);
  CHECK(blk(1, 2) == 23.0);

  // Eigen::Ref to const binds, and gives a read-only view.
  const Eigen::Ref<const beacon::row_matrix<double>> ref(m);
  auto cv = beacon::as_view(ref);
  static_assert(std::is_same_v<decltype(cv), matrix_view<const double, host_space>>);
  CHECK(cv.data() == m.data());

  // Map with an outer stride over a raw buffer.
  float raw[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  Eigen::Map<beacon::row_matrix<float>, 0, Eigen::OuterStride<>> map(raw, 2, 3, Eigen::OuterStride<>(4));
  auto mv = beacon::as_view(map);
  CHECK(mv.ld() == 4);
  CHECK(mv(1, 2) == 6.0f);

  // And back: as_eigen maps the same memory.
  auto back = beacon::as_eigen(v);
  back(0, 0) = -1.0;
  CHECK(m(0, 0) == -1.0);

  Eigen::VectorXf x = Eigen::VectorXf::LinSpaced(4, 0, 3);
  auto xv = beacon::as_vector_view(x);
  CHECK(xv.size() == 4);
  CHECK(xv[3] == 3.0f);
  CHECK(beacon::as_eigen(xv).sum() == 6.0f);
  auto col = beacon::as_view(x);  // a column vector is a 4 x 1 view
  CHECK(col.rows() == 4);
  CHECK(col(2, 0) == 2.0f);
}

TEST_CASE("error hierarchy: every error is a beacon::error and a std::runtime_error") {
  CHECK_THROWS_AS(throw beacon::shape_error("s"), beacon::error);
  CHECK_THROWS_AS(throw beacon::value_error("v"), beacon::error);
  CHECK_THROWS_AS(throw beacon::format_error("f"), std::runtime_error);
  const beacon::cuda_error ce("beacon::cuda: cudaMalloc failed", 2);
  CHECK(ce.code() == 2);
  CHECK(std::string(ce.what()) == "beacon::cuda: cudaMalloc failed");
}

TEST_CASE("cpu backend validates its thread count") {
  CHECK(beacon::cpu{}.threads() >= 1);
  CHECK(beacon::cpu{3}.threads() == 3);
  CHECK(message_of([] { beacon::cpu{0}; }) == "beacon::cpu: argument 'threads' expected >= 1, got 0");
  CHECK(beacon::cpu::name() == "cpu");
}
