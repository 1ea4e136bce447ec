// SPDX-License-Identifier: Apache-2.0
// axpby transforms and Philox-driven noise on the CPU backend.
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>

#include <cmath>
#include <vector>

using beacon::size_type;

TEST_CASE("axpby: hand values and aliasing") {
  std::vector<double> x = {1, 2, 3, 4}, y = {10, 20, 30, 40}, out(4);
  beacon::axpby(beacon::cpu{1}, 2.0, beacon::host_matrix(x.data(), 2, 2), -0.5, beacon::host_matrix(y.data(), 2, 2),
                beacon::host_matrix(out.data(), 2, 2));
  CHECK(out == std::vector<double>{-3, -6, -9, -12});
  beacon::axpby(beacon::cpu{1}, 1.0, beacon::host_matrix(x.data(), 2, 2), 1.0, beacon::host_matrix(y.data(), 2, 2),
                beacon::host_matrix(x.data(), 2, 2));
  CHECK(x == std::vector<double>{11, 22, 33, 44});
  CHECK_THROWS_AS(beacon::axpby(beacon::cpu{1}, 1.0, beacon::host_matrix(x.data(), 2, 2), 1.0, beacon::host_matrix(y.data(), 1, 4),
                                beacon::host_matrix(out.data(), 2, 2)),
                  beacon::shape_error);
}

TEST_CASE("fill_normal draws stream element i*cols + j, independent of ld and threads") {
  const beacon::philox_stream noise{42, 1000};
  const size_type rows = 37, cols = 29;
  std::vector<float> dense(static_cast<std::size_t>(rows * cols)), padded(static_cast<std::size_t>(rows * (cols + 3)), 7.0f);
  beacon::fill_normal(beacon::cpu{1}, noise, beacon::host_matrix(dense.data(), rows, cols));
  beacon::fill_normal(beacon::cpu{2}, noise, beacon::host_matrix(padded.data(), rows, cols, cols + 3));
  int mismatches = 0;
  for (size_type i = 0; i < rows; ++i)
    for (size_type j = 0; j < cols; ++j) {
      const float d = dense[static_cast<std::size_t>(i * cols + j)];
      mismatches += d != noise.normal(static_cast<std::uint64_t>(i * cols + j));
      mismatches += d != padded[static_cast<std::size_t>(i * (cols + 3) + j)];
    }
  CHECK(mismatches == 0);
  CHECK(padded[static_cast<std::size_t>(cols)] == 7.0f);  // padding untouched
  // Two halves drawn from an advanced stream equal one draw of the whole.
  std::vector<float> halves(dense.size());
  beacon::fill_normal(beacon::cpu{1}, noise, beacon::host_matrix(halves.data(), 20, cols));
  beacon::fill_normal(beacon::cpu{1}, noise.advanced(20 * cols), beacon::host_matrix(halves.data() + 20 * cols, rows - 20, cols));
  CHECK(halves == dense);
}

TEST_CASE("row_axpby_noise: per-row coefficients, exact limits, and noising statistics") {
  const size_type rows = 4, cols = 100000;
  std::vector<float> x(static_cast<std::size_t>(rows * cols), 3.0f), out(x.size());
  // Row 0: a = 1, b = 0 keeps x exactly (an unmasked row); row 1: a = 0, b = 1 is pure noise;
  // row 2/3: a diffusion step with alpha_bar = 0.36: sqrt(0.36) x + sqrt(0.64) eps.
  std::vector<float> a = {1.0f, 0.0f, 0.6f, 0.6f}, b = {0.0f, 1.0f, 0.8f, 0.8f};
  const beacon::philox_stream noise{7, 0};
  beacon::row_axpby_noise(beacon::cpu{2}, beacon::host_vector<const float>(a.data(), 4), beacon::host_matrix(x.data(), rows, cols),
                          beacon::host_vector<const float>(b.data(), 4), noise, beacon::host_matrix(out.data(), rows, cols));
  int mismatches = 0;
  double mean = 0, var = 0;
  for (size_type j = 0; j < cols; ++j) {
    mismatches += out[static_cast<std::size_t>(j)] != 3.0f;
    mismatches += out[static_cast<std::size_t>(cols + j)] != noise.normal(static_cast<std::uint64_t>(cols + j));
    const double v = out[static_cast<std::size_t>(2 * cols + j)];
    mean += v;
    var += (v - 1.8) * (v - 1.8);
  }
  CHECK(mismatches == 0);
  mean /= cols;
  var /= cols;
  CHECK(std::abs(mean - 1.8) < 0.8 * 5 / std::sqrt(double(cols)));  // 5 sigma
  CHECK(std::abs(var - 0.64) < 0.64 * 5 * std::sqrt(2.0 / cols));
  // Double outputs draw the same float variates, converted.
  std::vector<double> xd(8, 0.0), od(8), ad(2, 0.0), bd(2, 2.0);
  beacon::row_axpby_noise(beacon::cpu{1}, beacon::host_vector(ad.data(), 2), beacon::host_matrix(xd.data(), 2, 4),
                          beacon::host_vector(bd.data(), 2), noise, beacon::host_matrix(od.data(), 2, 4));
  CHECK(od[5] == 2.0 * static_cast<double>(noise.normal(5)));
  CHECK_THROWS_AS(beacon::row_axpby_noise(beacon::cpu{1}, beacon::host_vector(ad.data(), 1), beacon::host_matrix(xd.data(), 2, 4),
                                          beacon::host_vector(bd.data(), 2), noise, beacon::host_matrix(od.data(), 2, 4)),
                  beacon::shape_error);
}

TEST_CASE("fill_uniform: float and double variates in (0, 1) from the same stream positions") {
  const beacon::philox_stream s{99, 5};
  std::vector<float> f(64);
  std::vector<double> d(64);
  beacon::fill_uniform(beacon::cpu{1}, s, beacon::host_matrix(f.data(), 8, 8));
  beacon::fill_uniform(beacon::cpu{1}, s, beacon::host_matrix(d.data(), 8, 8));
  for (std::size_t i = 0; i < 64; ++i) {
    CHECK(f[i] == s.uniform(i));
    CHECK(d[i] == s.uniform_double(i));
  }
}
