// SPDX-License-Identifier: Apache-2.0
// Masked mean-pool, row gather/scatter and segmented row sums on the CPU backend.
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

using beacon::index_type;
using beacon::size_type;

TEST_CASE("masked_mean_pool: hand-computed instance means, padding ignored") {
  // 2 instances x 3 tokens x 2 dims; instance 0 counts tokens 0 and 2, instance 1 only token 1.
  std::vector<float> tokens = {1, 2, 100, 100, 3, 6,  //
                               9, 9, 4, -2, 9, 9};
  std::vector<std::uint8_t> mask = {1, 0, 1, 0, 1, 0};
  std::vector<float> out(4, -1.0f);
  beacon::masked_mean_pool(beacon::cpu{1}, beacon::host_matrix(tokens.data(), 6, 2), beacon::host_matrix(mask.data(), 2, 3),
                           beacon::host_matrix(out.data(), 2, 2));
  CHECK(out == std::vector<float>{2, 4, 4, -2});
  // A float mask (attention-mask style) works too.
  std::vector<double> dtokens(tokens.begin(), tokens.end());
  std::vector<double> fmask = {1.0, 1.0, 1.0, 0.0, 0.0, 1.0};
  std::vector<double> dout(4);
  beacon::masked_mean_pool(beacon::cpu{2}, beacon::host_matrix(dtokens.data(), 6, 2), beacon::host_matrix(fmask.data(), 2, 3),
                           beacon::host_matrix(dout.data(), 2, 2));
  CHECK(dout == std::vector<double>{104.0 / 3, 108.0 / 3, 9, 9});
}

TEST_CASE("masked_mean_pool rejects an instance without tokens and mismatched shapes") {
  std::vector<float> tokens(12, 1.0f), out(4);
  std::vector<std::uint8_t> mask = {1, 0, 1, 0, 0, 0};
  CHECK_THROWS_WITH_AS(beacon::masked_mean_pool(beacon::cpu{1}, beacon::host_matrix(tokens.data(), 6, 2),
                                                beacon::host_matrix(mask.data(), 2, 3), beacon::host_matrix(out.data(), 2, 2)),
                       "beacon::masked_mean_pool: argument 'mask' expected at least one nonzero entry per row, got an all-zero row 1",
                       beacon::value_error);
  CHECK_THROWS_AS(beacon::masked_mean_pool(beacon::cpu{1}, beacon::host_matrix(tokens.data(), 5, 2),
                                           beacon::host_matrix(mask.data(), 2, 3), beacon::host_matrix(out.data(), 2, 2)),
                  beacon::shape_error);
  CHECK_THROWS_AS(beacon::masked_mean_pool(beacon::cpu{1}, beacon::host_matrix(tokens.data(), 6, 2),
                                           beacon::host_matrix(mask.data(), 2, 3), beacon::host_matrix(out.data(), 2, 1)),
                  beacon::shape_error);
  CHECK_NOTHROW(beacon::masked_mean_pool(beacon::cpu{1}, beacon::host_matrix<const float>(nullptr, 0, 2),
                                         beacon::host_matrix<const std::uint8_t>(nullptr, 0, 3),
                                         beacon::host_matrix<float>(nullptr, 0, 2)));
}

TEST_CASE("gather_rows then scatter_rows with the same permutation is the identity") {
  const size_type n = 1000, d = 7;
  std::vector<double> src(static_cast<std::size_t>(n * d));
  std::iota(src.begin(), src.end(), 0.0);
  std::vector<index_type> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(4));
  std::vector<double> gathered(src.size()), back(src.size(), -1.0);
  const beacon::cpu be{2};
  beacon::gather_rows(be, beacon::host_matrix(src.data(), n, d), beacon::host_vector(perm.data(), n),
                      beacon::host_matrix(gathered.data(), n, d));
  CHECK(gathered[static_cast<std::size_t>(3 * d + 2)] == src[static_cast<std::size_t>(perm[3] * d + 2)]);
  beacon::scatter_rows(be, beacon::host_matrix(gathered.data(), n, d), beacon::host_vector(perm.data(), n),
                       beacon::host_matrix(back.data(), n, d));
  CHECK(back == src);
}

TEST_CASE("gather_rows repeats rows, scatter_rows leaves unnamed rows, bad indices are errors") {
  std::vector<float> src = {1, 2, 3, 4, 5, 6};  // 3 x 2
  std::vector<index_type> idx = {2, 2, 0};
  std::vector<float> dst(6);
  beacon::gather_rows(beacon::cpu{1}, beacon::host_matrix(src.data(), 3, 2), beacon::host_vector(idx.data(), 3),
                      beacon::host_matrix(dst.data(), 3, 2));
  CHECK(dst == std::vector<float>{5, 6, 5, 6, 1, 2});
  std::vector<float> target(8, 0.0f);  // 4 x 2
  std::vector<index_type> to = {3, 1};
  beacon::scatter_rows(beacon::cpu{1}, beacon::host_matrix(src.data(), 2, 2), beacon::host_vector(to.data(), 2),
                       beacon::host_matrix(target.data(), 4, 2));
  CHECK(target == std::vector<float>{0, 0, 3, 4, 0, 0, 1, 2});

  idx = {0, 3, 1};
  CHECK_THROWS_WITH_AS(beacon::gather_rows(beacon::cpu{1}, beacon::host_matrix(src.data(), 3, 2), beacon::host_vector(idx.data(), 3),
                                           beacon::host_matrix(dst.data(), 3, 2)),
                       "beacon::gather_rows: argument 'index' expected entries in [0, 3), got 3 at position 1", beacon::value_error);
  idx = {-1, 0, 0};
  CHECK_THROWS_AS(beacon::gather_rows(beacon::cpu{1}, beacon::host_matrix(src.data(), 3, 2), beacon::host_vector(idx.data(), 3),
                                      beacon::host_matrix(dst.data(), 3, 2)),
                  beacon::value_error);
  to = {1, 1};
  CHECK_THROWS_WITH_AS(beacon::scatter_rows(beacon::cpu{1}, beacon::host_matrix(src.data(), 2, 2), beacon::host_vector(to.data(), 2),
                                            beacon::host_matrix(target.data(), 4, 2)),
                       "beacon::scatter_rows: argument 'index' expected distinct entries, got a repeat of 1 at position 1",
                       beacon::value_error);
  CHECK_THROWS_AS(beacon::gather_rows(beacon::cpu{1}, beacon::host_matrix(src.data(), 3, 2), beacon::host_vector(idx.data(), 3),
                                      beacon::host_matrix(dst.data(), 2, 2)),
                  beacon::shape_error);
  CHECK_THROWS_AS(beacon::scatter_rows(beacon::cpu{1}, beacon::host_matrix(src.data(), 2, 2), beacon::host_vector(to.data(), 2),
                                       beacon::host_matrix(target.data(), 2, 4)),
                  beacon::shape_error);
}

TEST_CASE("segment_sum_rows: hand-computed sums, empty segments give zero rows") {
  std::vector<float> src = {1, 10, 2, 20, 3, 30, 4, 40};  // 4 x 2
  std::vector<index_type> offsets = {0, 2, 2, 4};
  std::vector<float> dst(6, -1.0f);
  beacon::segment_sum_rows(beacon::cpu{1}, beacon::host_matrix(src.data(), 4, 2), beacon::host_vector(offsets.data(), 4),
                           beacon::host_matrix(dst.data(), 3, 2));
  CHECK(dst == std::vector<float>{3, 30, 0, 0, 7, 70});
  // Sums of a vector (one column) by segments: each segment equals its own running sum.
  const size_type n = 5000;
  std::vector<double> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 1.0);
  std::vector<index_type> seg = {0, 1, 100, 2500, 5000};
  std::vector<double> sums(4);
  beacon::segment_sum_rows(beacon::cpu{2}, beacon::host_matrix(v.data(), n, 1), beacon::host_vector(seg.data(), 5),
                           beacon::host_matrix(sums.data(), 4, 1));
  CHECK(sums == std::vector<double>{1, 99.0 * 102 / 2, 2400.0 * (101 + 2500) / 2, 2500.0 * (2501 + 5000) / 2});
}

TEST_CASE("segment_sum_rows validates offsets") {
  std::vector<float> src(8), dst(6);
  const auto s = beacon::host_matrix<const float>(src.data(), 4, 2);
  auto d = beacon::host_matrix(dst.data(), 3, 2);
  std::vector<index_type> off = {1, 2, 3, 4};
  CHECK_THROWS_WITH_AS(beacon::segment_sum_rows(beacon::cpu{1}, s, beacon::host_vector(off.data(), 4), d),
                       "beacon::segment_sum_rows: argument 'offsets[0]' expected 0, got 1", beacon::value_error);
  off = {0, 3, 2, 4};
  CHECK_THROWS_WITH_AS(beacon::segment_sum_rows(beacon::cpu{1}, s, beacon::host_vector(off.data(), 4), d),
                       "beacon::segment_sum_rows: argument 'offsets' expected non-decreasing entries, got 2 after 3 at position 2",
                       beacon::value_error);
  off = {0, 1, 2, 3};
  CHECK_THROWS_AS(beacon::segment_sum_rows(beacon::cpu{1}, s, beacon::host_vector(off.data(), 4), d), beacon::value_error);
  CHECK_THROWS_AS(beacon::segment_sum_rows(beacon::cpu{1}, s, beacon::host_vector(off.data(), 3), d), beacon::shape_error);
}
