// SPDX-License-Identifier: Apache-2.0
#pragma once
// Helpers shared by the CUDA tests: random host data, device copies, bit comparisons, and the
// message of the exception an operation throws (to compare CPU and CUDA error messages).

#include <doctest/doctest.h>

#include <beacon/backend/cuda.cuh>
#include <beacon/beacon.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace beacon_test {

using beacon::device_space;
using beacon::host_space;
using beacon::index_type;
using beacon::size_type;

inline std::size_t sz(size_type n) { return static_cast<std::size_t>(n); }

template <class T>
std::vector<T> random_values(size_type n, unsigned seed, T lo = T(-1), T hi = T(1)) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(static_cast<double>(lo), static_cast<double>(hi));
  std::vector<T> v(sz(n));
  for (auto& x : v) x = static_cast<T>(dist(gen));
  return v;
}

/// Normal logits, optionally rounded to integers so rows are full of ties.
inline std::vector<float> random_logits(size_type n, unsigned seed, bool ties = false) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> v(sz(n));
  for (auto& x : v) x = ties ? std::round(dist(gen)) : dist(gen);
  return v;
}

inline std::vector<index_type> random_indices(size_type n, index_type bound, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<index_type> dist(0, bound - 1);
  std::vector<index_type> v(sz(n));
  for (auto& x : v) x = dist(gen);
  return v;
}

/// Device copy of host data (synchronous).
template <class T>
beacon::device_buffer<T> to_device(const std::vector<T>& host) {
  return beacon::device_buffer<T>(host);
}

/// Waits for the backend's stream, then copies a device buffer to the host.
template <class T>
std::vector<T> to_host(const beacon::cuda& be, const beacon::device_buffer<T>& buffer) {
  be.synchronize();
  return buffer.to_host();
}

template <class T>
beacon::matrix_view<const T, host_space> hmat(const std::vector<T>& v, size_type rows, size_type cols, size_type ld = -1) {
  return beacon::host_matrix<const T>(v.data(), rows, cols, ld);
}
template <class T>
beacon::matrix_view<T, host_space> hmat(std::vector<T>& v, size_type rows, size_type cols, size_type ld = -1) {
  return beacon::host_matrix<T>(v.data(), rows, cols, ld);
}
template <class T>
beacon::matrix_view<const T, device_space> dmat(const beacon::device_buffer<T>& b, size_type rows, size_type cols, size_type ld = -1) {
  return beacon::device_matrix<const T>(b.data(), rows, cols, ld);
}
template <class T>
beacon::matrix_view<T, device_space> dmat(beacon::device_buffer<T>& b, size_type rows, size_type cols, size_type ld = -1) {
  return beacon::device_matrix<T>(b.data(), rows, cols, ld);
}
template <class T>
beacon::vector_view<const T, host_space> hvec(const std::vector<T>& v) {
  return beacon::host_vector<const T>(v.data(), static_cast<size_type>(v.size()));
}
template <class T>
beacon::vector_view<T, host_space> hvec(std::vector<T>& v) {
  return beacon::host_vector<T>(v.data(), static_cast<size_type>(v.size()));
}
template <class T>
beacon::vector_view<const T, device_space> dvec(const beacon::device_buffer<T>& b) {
  return beacon::device_vector<const T>(b.data(), b.size());
}
template <class T>
beacon::vector_view<T, device_space> dvec(beacon::device_buffer<T>& b) {
  return beacon::device_vector<T>(b.data(), b.size());
}

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

/// Index of the first element whose bits differ, or -1.
template <class T>
long first_bit_difference(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_bits(a[i], b[i])) return static_cast<long>(i);
  return -1;
}

/// Largest |a - b| / (atol + rtol * |b|); <= 1 means within tolerance. NaN counts as a failure.
template <class T>
double tolerance_ratio(const std::vector<T>& got, const std::vector<T>& want, double atol, double rtol) {
  if (got.size() != want.size()) return INFINITY;
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    if (std::isnan(g) != std::isnan(w)) return INFINITY;
    if (std::isnan(g) || g == w) continue;
    worst = std::max(worst, std::abs(g - w) / (atol + rtol * std::abs(w)));
  }
  return worst;
}

/// what() of the beacon::error `f` throws, prefixed by its kind; "no error" when it returns.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const beacon::shape_error& e) {
    return std::string("shape_error: ") + e.what();
  } catch (const beacon::value_error& e) {
    return std::string("value_error: ") + e.what();
  } catch (const beacon::error& e) {
    return std::string("error: ") + e.what();
  }
  return "no error";
}

}  // namespace beacon_test
