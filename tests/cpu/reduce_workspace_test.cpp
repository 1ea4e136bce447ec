// SPDX-License-Identifier: Apache-2.0
// Deterministic reductions and workspace carving.
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>

#include <cstdint>
#include <random>
#include <vector>

namespace {
// Independent formulation of the summation tree: leaves of 8 (left to right), the leaf sequence
// split into perfect power-of-two trees from the left, combined right to left.
float perfect_tree(const std::vector<float>& leaves, std::size_t lo, std::size_t count) {
  if (count == 1) return leaves[lo];
  return perfect_tree(leaves, lo, count / 2) + perfect_tree(leaves, lo + count / 2, count / 2);
}
float reference_pairwise(const std::vector<float>& x) {
  std::vector<float> leaves;
  for (std::size_t lo = 0; lo < x.size(); lo += 8) {
    float s = 0.0f;
    for (std::size_t i = lo; i < std::min(x.size(), lo + 8); ++i) s += x[i];
    leaves.push_back(s);
  }
  std::vector<float> trees;
  std::size_t lo = 0, remaining = leaves.size();
  while (remaining > 0) {
    std::size_t p = 1;
    while (p * 2 <= remaining) p *= 2;
    trees.push_back(perfect_tree(leaves, lo, p));
    lo += p;
    remaining -= p;
  }
  if (trees.empty()) return 0.0f;
  float r = trees.back();
  for (std::size_t i = trees.size() - 1; i-- > 0;) r = trees[i] + r;
  return r;
}

std::vector<float> cancelling_data(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> mag(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = mag(gen) * (i % 7 == 0 ? 1e6f : 1.0f);
  return x;
}
}  // namespace

TEST_CASE("pairwise_sum follows its documented tree exactly (bitwise, with cancellation)") {
  for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 65u, 1000u, 4099u}) {
    const auto x = cancelling_data(n, static_cast<unsigned>(n));
    CHECK(beacon::pairwise_sum(x.data(), static_cast<beacon::size_type>(n)) == reference_pairwise(x));
  }
}

TEST_CASE("pairwise_sum is exact on integers and accurate on long inputs") {
  std::vector<double> ints(100001);
  for (std::size_t i = 0; i < ints.size(); ++i) ints[i] = static_cast<double>(i);
  CHECK(beacon::pairwise_sum(ints.data(), 100001) == 100000.0 * 100001.0 / 2.0);
  // 10^6 copies of 0.1f: a running float sum drifts by ~1 %, the pairwise one stays within 1e-5.
  std::vector<float> tenths(1000000, 0.1f);
  const double exact = 1000000.0 * static_cast<double>(0.1f);
  CHECK(std::abs(beacon::pairwise_sum(tenths.data(), 1000000) - exact) / exact < 1e-5);
}

TEST_CASE("cpu sum: blocked order, identical bits for 1 and 2 threads, matches blocked_sum") {
  for (beacon::size_type n : {0, 1, 2047, 2048, 2049, 100000, 1 << 20}) {
    const auto x = cancelling_data(static_cast<std::size_t>(n), 99);
    float s1 = -1, s2 = -2;
    beacon::sum(beacon::cpu{1}, beacon::host_vector(x.data(), n), beacon::host_vector(&s1, 1));
    beacon::sum(beacon::cpu{2}, beacon::host_vector(x.data(), n), beacon::host_vector(&s2, 1));
    CHECK(s1 == s2);
    CHECK(s1 == beacon::blocked_sum<float>(n, [&](beacon::size_type i) { return x[static_cast<std::size_t>(i)]; }));
  }
  float out[2];
  std::vector<float> x(3, 1.0f);
  CHECK_THROWS_AS(beacon::sum(beacon::cpu{1}, beacon::host_vector(x.data(), 3), beacon::host_vector(out, 2)),
                  beacon::shape_error);
}

TEST_CASE("workspace layout and arena agree, arrays are aligned, overflow is an error") {
  beacon::workspace_layout layout;
  layout.add<float>(10).add<beacon::index_type>(3).add<double>(1);
  CHECK(layout.bytes() == 3 * beacon::workspace_alignment);
  beacon::host_workspace ws;
  auto arena = ws.reserve(layout.bytes());
  CHECK(ws.capacity() >= layout.bytes());
  auto a = arena.take<float>(10);
  auto b = arena.take<beacon::index_type>(3);
  auto c = arena.take<double>(1);
  CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % beacon::workspace_alignment == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % beacon::workspace_alignment == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(c.data()) % beacon::workspace_alignment == 0);
  CHECK(arena.used() <= arena.capacity());
  a[9] = 1.0f;  // within bounds (ASan build would catch otherwise)
  c[0] = 2.0;
  CHECK_THROWS_AS(arena.take<double>(1000), beacon::value_error);
  CHECK(arena.take<float>(0).empty());
  // cpu backend scratch grows and is shared by copies.
  beacon::cpu be{1};
  auto s = be.scratch(1 << 16);
  CHECK(s.capacity() >= (1u << 16));
  const beacon::cpu copy = be;
  CHECK(copy.scratch(16).capacity() >= (1u << 16));
}
