// SPDX-License-Identifier: Apache-2.0
// Philox on the device (known-answer vectors, stream variates bit-identical to the host), noise
// fills and noisy axpby against the CPU, the deterministic sum bit for bit, the elementwise
// primitives, and backend-generic algorithms (nearest_rows, k-means) run on beacon::cuda.
#include "support.cuh"

#include <beacon/plan/kmeans.hpp>

#include <algorithm>
#include <limits>
#include <utility>

using namespace beacon_test;
using beacon::philox4x32_counter;
using beacon::philox4x32_key;
using beacon::philox_stream;

namespace {

__global__ void philox_kernel(const philox4x32_counter* ctr, const philox4x32_key* key, philox4x32_counter* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = beacon::philox4x32_10(ctr[i], key[i]);
}

__global__ void stream_variates_kernel(philox_stream s, std::uint64_t n, float* normal, float* uniform, double* uniform_double) {
  for (std::uint64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += static_cast<std::uint64_t>(gridDim.x) * blockDim.x) {
    normal[i] = s.normal(i);
    uniform[i] = s.uniform(i);
    uniform_double[i] = s.uniform_double(i);
  }
}

/// Values spread over many magnitudes and signs, so the order of additions shows in the bits.
template <class T>
std::vector<T> wild_values(size_type n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
  std::uniform_int_distribution<int> exponent(-12, 12);
  std::vector<T> v(sz(n));
  for (auto& x : v) x = static_cast<T>(std::ldexp(mantissa(gen), exponent(gen)));
  return v;
}

template <class T>
void check_sum_bits(const beacon::cuda& be, const beacon::cpu& cpu, const std::vector<T>& x) {
  CAPTURE(x.size());
  std::vector<T> want(1);
  beacon::sum(cpu, hvec(x), hvec(want));
  auto dx = to_device(x);
  auto dout = to_device(std::vector<T>{T(42)});
  beacon::sum(be, dvec(std::as_const(dx)), dvec(dout));
  const T got = to_host(be, dout)[0];
  CAPTURE(got);
  CAPTURE(want[0]);
  CHECK(same_bits(got, want[0]));
}

}  // namespace

TEST_CASE("philox4x32-10 in a kernel reproduces the Random123 known-answer vectors") {
  const std::vector<philox4x32_counter> ctr{{{0, 0, 0, 0}},
                                            {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
                                            {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}};
  const std::vector<philox4x32_key> key{{{0, 0}}, {{0xffffffffu, 0xffffffffu}}, {{0xa4093822u, 0x299f31d0u}}};
  const std::vector<philox4x32_counter> want{{{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
                                             {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
                                             {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}};
  auto dctr = to_device(ctr);
  auto dkey = to_device(key);
  beacon::device_buffer<philox4x32_counter> dout(3);
  philox_kernel<<<1, 32>>>(dctr.data(), dkey.data(), dout.data(), 3);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  const auto got = dout.to_host();
  for (std::size_t i = 0; i < 3; ++i)
    for (int w = 0; w < 4; ++w) {
      CAPTURE(i);
      CAPTURE(w);
      CHECK(got[i].v[w] == want[i].v[w]);
    }
}

TEST_CASE("philox_stream variates are bit-identical on host and device") {
  const std::uint64_t n = 1 << 18;
  for (const philox_stream s : {philox_stream{0, 0}, philox_stream{2024, 7}, philox_stream{0xfedcba9876543210ULL, (1ULL << 40) + 3}}) {
    CAPTURE(s.seed);
    beacon::device_buffer<float> normal(static_cast<size_type>(n)), uniform(static_cast<size_type>(n));
    beacon::device_buffer<double> uniform_double(static_cast<size_type>(n));
    stream_variates_kernel<<<256, 256>>>(s, n, normal.data(), uniform.data(), uniform_double.data());
    REQUIRE(cudaGetLastError() == cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    std::vector<float> want_normal(n), want_uniform(n);
    std::vector<double> want_double(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      want_normal[i] = s.normal(i);
      want_uniform[i] = s.uniform(i);
      want_double[i] = s.uniform_double(i);
    }
    CHECK(first_bit_difference(normal.to_host(), want_normal) == -1);
    CHECK(first_bit_difference(uniform.to_host(), want_uniform) == -1);
    CHECK(first_bit_difference(uniform_double.to_host(), want_double) == -1);
  }
}

TEST_CASE("fill_normal and fill_uniform draw the CPU's variates bit for bit") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  struct shape {
    std::uint64_t seed, offset;
    size_type rows, cols, ld;
  };
  for (const auto& c : {shape{7, 0, 1, 1, 1}, shape{7, 1, 3, 5, 7}, shape{123, 2, 17, 33, 40}, shape{(1ULL << 40) + 5, 3, 64, 100, 100},
                        shape{9, 1001, 257, 3, 4}, shape{11, 6, 1000, 1000, 1000}}) {
    CAPTURE(c.seed);
    CAPTURE(c.offset);
    CAPTURE(c.rows);
    CAPTURE(c.cols);
    const philox_stream noise{c.seed, c.offset};
    // Padding starts as sentinels and must stay untouched.
    std::vector<float> want(sz(c.rows * c.ld), -7.0f);
    auto got = to_device(want);
    beacon::fill_normal(cpu, noise, hmat(want, c.rows, c.cols, c.ld));
    beacon::fill_normal(be, noise, dmat(got, c.rows, c.cols, c.ld));
    CHECK(first_bit_difference(to_host(be, got), want) == -1);

    std::vector<double> want_d(sz(c.rows * c.ld), -7.0);
    auto got_d = to_device(want_d);
    beacon::fill_normal(cpu, noise, hmat(want_d, c.rows, c.cols, c.ld));
    beacon::fill_normal(be, noise, dmat(got_d, c.rows, c.cols, c.ld));
    CHECK(first_bit_difference(to_host(be, got_d), want_d) == -1);

    beacon::fill_uniform(cpu, noise, hmat(want, c.rows, c.cols, c.ld));
    beacon::fill_uniform(be, noise, dmat(got, c.rows, c.cols, c.ld));
    CHECK(first_bit_difference(to_host(be, got), want) == -1);
    beacon::fill_uniform(cpu, noise, hmat(want_d, c.rows, c.cols, c.ld));
    beacon::fill_uniform(be, noise, dmat(got_d, c.rows, c.cols, c.ld));
    CHECK(first_bit_difference(to_host(be, got_d), want_d) == -1);
  }
}

TEST_CASE("row_axpby_noise and row_axpbypcz_noise match the CPU") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  const size_type rows = 33, cols = 70, ld = 72;
  const philox_stream noise{99, 5};
  const auto x = random_values<float>(rows * ld, 61), y = random_values<float>(rows * ld, 62);
  auto a = random_values<float>(rows, 63), b = random_values<float>(rows, 64), c = random_values<float>(rows, 65);
  for (size_type i = 0; i < rows; i += 4) c[sz(i)] = 0.0f;  // rows that draw no noise
  auto dx = to_device(x), dy = to_device(y), da = to_device(a), db = to_device(b), dc = to_device(c);
  const auto cx = dmat(std::as_const(dx), rows, cols, ld), cy = dmat(std::as_const(dy), rows, cols, ld);

  std::vector<float> want(sz(rows * ld), 0.0f);
  auto got = to_device(want);
  beacon::row_axpby_noise(cpu, hvec(std::as_const(a)), hmat(x, rows, cols, ld), hvec(std::as_const(b)), noise, hmat(want, rows, cols, ld));
  beacon::row_axpby_noise(be, dvec(std::as_const(da)), cx, dvec(std::as_const(db)), noise, dmat(got, rows, cols, ld));
  CHECK(tolerance_ratio(to_host(be, got), want, 1e-6, 1e-5) <= 1.0);

  beacon::row_axpbypcz_noise(cpu, hvec(std::as_const(a)), hmat(x, rows, cols, ld), hvec(std::as_const(b)), hmat(y, rows, cols, ld),
                             hvec(std::as_const(c)), noise, hmat(want, rows, cols, ld));
  beacon::row_axpbypcz_noise(be, dvec(std::as_const(da)), cx, dvec(std::as_const(db)), cy, dvec(std::as_const(dc)), noise,
                             dmat(got, rows, cols, ld));
  CHECK(tolerance_ratio(to_host(be, got), want, 1e-6, 1e-5) <= 1.0);

  // a = 0, b = 1 leaves exactly the noise: the CPU's bits. In place (out aliases x) as well.
  std::vector<float> zeros(sz(rows), 0.0f), ones(sz(rows), 1.0f);
  auto dzeros = to_device(zeros), dones = to_device(ones);
  beacon::row_axpby_noise(cpu, hvec(std::as_const(zeros)), hmat(x, rows, cols, ld), hvec(std::as_const(ones)), noise, hmat(want, rows, cols, ld));
  beacon::row_axpby_noise(be, dvec(std::as_const(dzeros)), cx, dvec(std::as_const(dones)), noise, dmat(dx, rows, cols, ld));
  auto in_place = to_host(be, dx);
  for (size_type i = 0; i < rows; ++i)
    for (size_type j = cols; j < ld; ++j) in_place[sz(i * ld + j)] = 0.0f;
  CHECK(first_bit_difference(in_place, want) == -1);
}

TEST_CASE("sum reproduces the CPU's blocked pairwise sum bit for bit") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  for (const size_type n : {1, 2, 7, 8, 9, 15, 16, 17, 100, 2047, 2048, 2049, 4095, 4096, 4097, 2048 * 3 + 5, 1 << 20, 1000003})
    check_sum_bits(be, cpu, wild_values<float>(n, static_cast<unsigned>(n)));
  for (const size_type n : {3, 2048, 5000, 300001}) check_sum_bits(be, cpu, wild_values<double>(n, static_cast<unsigned>(n) + 1));
  // More than 2048 * 8 block partials: the partials' tree spans several chunks of the combine kernel.
  check_sum_bits(be, cpu, wild_values<float>(size_type{2048} * 2048 * 8 + 2048 * 37 + 11, 5));
  // The sequential code starts every leaf from +0, so a sum of -0 is +0.
  check_sum_bits(be, cpu, std::vector<float>(5, -0.0f));
  check_sum_bits(be, cpu, std::vector<float>{});
  check_sum_bits(be, cpu, std::vector<float>{1e30f, 1.0f, -1e30f, 1.0f});
}

TEST_CASE("fill, axpby, row_dot and normalize_rows match the CPU") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  for (const size_type cols : {1, 3, 32, 100, 1025}) {
    CAPTURE(cols);
    const size_type rows = 45, ld = cols + 1;
    const auto x = random_values<float>(rows * ld, 71), y = random_values<float>(rows * ld, 72);
    auto dx = to_device(x), dy = to_device(y);
    const auto cx = dmat(std::as_const(dx), rows, cols, ld), cy = dmat(std::as_const(dy), rows, cols, ld);

    std::vector<float> want(sz(rows * ld), 0.0f);
    auto got = to_device(want);
    beacon::fill(cpu, 3.25f, hmat(want, rows, cols, ld));
    beacon::fill(be, 3.25f, dmat(got, rows, cols, ld));
    CHECK(to_host(be, got) == want);

    beacon::axpby(cpu, 0.5f, hmat(x, rows, cols, ld), -2.0f, hmat(y, rows, cols, ld), hmat(want, rows, cols, ld));
    beacon::axpby(be, 0.5f, cx, -2.0f, cy, dmat(got, rows, cols, ld));
    CHECK(tolerance_ratio(to_host(be, got), want, 1e-6, 1e-6) <= 1.0);

    std::vector<float> want_dot(sz(rows));
    beacon::device_buffer<float> got_dot(rows);
    beacon::row_dot(cpu, hmat(x, rows, cols, ld), hmat(y, rows, cols, ld), hvec(want_dot));
    beacon::row_dot(be, cx, cy, dvec(got_dot));
    CHECK(tolerance_ratio(to_host(be, got_dot), want_dot, 1e-6 * static_cast<double>(cols), 1e-5) <= 1.0);

    // A zero row stays zero; out aliases x.
    auto z = x;
    for (size_type j = 0; j < cols; ++j) z[sz(2 * ld + j)] = 0.0f;
    auto dz = to_device(z);
    beacon::normalize_rows(cpu, hmat(std::as_const(z), rows, cols, ld), hmat(z, rows, cols, ld));
    beacon::normalize_rows(be, dmat(std::as_const(dz), rows, cols, ld), dmat(dz, rows, cols, ld));
    CHECK(tolerance_ratio(to_host(be, dz), z, 1e-7, 1e-5) <= 1.0);
  }
  // Integer fill (nearest_rows fills index arrays).
  beacon::device_buffer<index_type> ids(10);
  beacon::fill(be, index_type{4}, dmat(ids, 2, 5));
  CHECK(to_host(be, ids) == std::vector<index_type>(10, 4));
}

TEST_CASE("backend-generic algorithms run on beacon::cuda: nearest_rows and k-means agree with the CPU") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  // Well-separated references, points near them: the nearest reference is unambiguous.
  const size_type refs = 50, d = 16, n = 700;
  const auto r = random_values<float>(refs * d, 81, -10.0f, 10.0f);
  const auto truth = random_indices(n, static_cast<index_type>(refs), 82);
  auto x = random_values<float>(n * d, 83, -0.01f, 0.01f);
  for (size_type i = 0; i < n; ++i)
    for (size_type j = 0; j < d; ++j) x[sz(i * d + j)] += r[sz(truth[sz(i)] * d + j)];
  std::vector<float> norms(sz(refs));
  std::vector<index_type> want(sz(n));
  beacon::row_dot(cpu, hmat(r, refs, d), hmat(r, refs, d), hvec(norms));
  beacon::nearest_rows(cpu, hmat(x, n, d), hmat(r, refs, d), hvec(std::as_const(norms)), hvec(want), 64);
  CHECK(want == truth);
  auto dx = to_device(x), dr = to_device(r);
  beacon::device_buffer<float> dnorms(refs);
  beacon::device_buffer<index_type> got(n);
  beacon::row_dot(be, dmat(std::as_const(dr), refs, d), dmat(std::as_const(dr), refs, d), dvec(dnorms));
  beacon::nearest_rows(be, dmat(std::as_const(dx), n, d), dmat(std::as_const(dr), refs, d), dvec(std::as_const(dnorms)), dvec(got), 64);
  CHECK(to_host(be, got) == truth);

  // k-means: both backends start from the same (host-computed) centroids and find the same blobs.
  beacon::plan::kmeans_options<float> opt;
  opt.clusters = 6;
  opt.seed = 3;
  opt.chunk_rows = 100;
  const auto blobs = dmat(std::as_const(dx), n, d);
  const auto on_cpu = beacon::plan::kmeans(cpu, hmat(x, n, d), opt);
  const auto on_gpu = beacon::plan::kmeans(be, blobs, opt);
  CHECK(on_gpu.labels == on_cpu.labels);
  CHECK(on_gpu.iterations == on_cpu.iterations);
  CHECK(std::abs(on_gpu.inertia - on_cpu.inertia) <= 1e-4 * on_cpu.inertia);
}
