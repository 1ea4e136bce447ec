// SPDX-License-Identifier: Apache-2.0
// Philox4x32-10 against the Random123 known-answer vectors, and the variates built on it.
#include <doctest/doctest.h>

#include <beacon/core/philox.hpp>

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <vector>

using beacon::philox4x32_counter;
using beacon::philox4x32_key;

namespace {
void check_kat(philox4x32_counter ctr, philox4x32_key key, philox4x32_counter expected) {
  const auto got = beacon::philox4x32_10(ctr, key);
  for (int i = 0; i < 4; ++i) CHECK(got.v[i] == expected.v[i]);
}
}  // namespace

TEST_CASE("philox4x32-10 reproduces the Random123 known-answer vectors (kat_vectors)") {
  check_kat({{0, 0, 0, 0}}, {{0, 0}}, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}});
  check_kat({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, {{0xffffffffu, 0xffffffffu}},
            {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}});
  check_kat({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, {{0xa4093822u, 0x299f31d0u}},
            {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}});
}

TEST_CASE("a stream element depends only on (seed, offset + i)") {
  const beacon::philox_stream a{7, 0}, b{7, 13};
  for (std::uint64_t i = 0; i < 64; ++i) {
    CHECK(b.normal(i) == a.normal(i + 13));
    CHECK(b.uniform(i) == a.uniform(i + 13));
    CHECK(b.uniform_double(i) == a.uniform_double(i + 13));
  }
  CHECK(a.advanced(13).normal(5) == b.normal(5));
  // Different seeds give different streams.
  CHECK(beacon::philox_stream{8, 0}.normal(0) != a.normal(0));
  // normal4 is the four lanes of one block.
  float z[4];
  a.normal4(3, z);
  for (int lane = 0; lane < 4; ++lane) CHECK(z[lane] == a.normal(12 + lane));
  // The block key is the 64-bit seed split into two words.
  const beacon::philox_stream big{0x0123456789abcdefULL, 0};
  CHECK(big.key().v[0] == 0x89abcdefu);
  CHECK(big.key().v[1] == 0x01234567u);
}

TEST_CASE("uniform variates lie in the open interval (0, 1) and use exact grids") {
  CHECK(beacon::uniform_from_bits(0u) == 0x1p-24f);
  CHECK(beacon::uniform_from_bits(0xffffffffu) == 1.0f - 0.5f / 8388608.0f);
  CHECK(beacon::uniform_from_bits(0xffffffffu) < 1.0f);
  CHECK(beacon::uniform_double_from_bits(0u, 0u) > 0.0);
  CHECK(beacon::uniform_double_from_bits(0xffffffffu, 0xffffffffu) < 1.0);
  const beacon::philox_stream s{2024, 0};
  double sum = 0, sum_d = 0;
  int outside = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const float u = s.uniform(static_cast<std::uint64_t>(i));
    const double d = s.uniform_double(static_cast<std::uint64_t>(i));
    outside += !(u > 0.0f && u < 1.0f) + !(d > 0.0 && d < 1.0);
    sum += u;
    sum_d += d;
  }
  CHECK(outside == 0);
  // Standard error of the mean of U(0,1) over n draws is sqrt(1/12/n) = 6.5e-4; allow 5 sigma.
  CHECK(std::abs(sum / n - 0.5) < 3.3e-3);
  CHECK(std::abs(sum_d / n - 0.5) < 3.3e-3);
}

TEST_CASE("the portable log and sincos match libm closely over their domains") {
  double worst_log = 0, worst_trig = 0;
  for (int i = 1; i <= 100000; ++i) {
    const float u = beacon::uniform_from_bits(static_cast<std::uint32_t>(i) * 2654435761u);
    const double ref = std::log(static_cast<double>(u));
    const double got = beacon::detail::portable_log(u);
    if (ref != 0.0) worst_log = std::max(worst_log, std::abs(got - ref) / std::abs(ref));
    float s, c;
    beacon::detail::portable_sincos_2pi(u, s, c);
    const double angle = 2.0 * M_PI * static_cast<double>(u);
    worst_trig = std::max({worst_trig, std::abs(double(s) - std::sin(angle)), std::abs(double(c) - std::cos(angle))});
  }
  CHECK(worst_log < 4e-7);   // a few float ulps, relative
  CHECK(worst_trig < 5e-7);  // a few float ulps absolute
  CHECK(beacon::detail::portable_log(1.0f) == 0.0f);
  CHECK(beacon::detail::portable_log(0.5f) == doctest::Approx(std::log(0.5)).epsilon(1e-7));
  float s, c;
  beacon::detail::portable_sincos_2pi(0.25f, s, c);
  CHECK(s == 1.0f);
  CHECK(std::abs(c) < 1e-7f);
}

TEST_CASE("normal variates have mean 0, variance 1 and Gaussian tails over 10^6 draws") {
  const beacon::philox_stream s{123456789, 0};
  const int n = 1000000;
  double sum = 0, sum2 = 0, sum4 = 0;
  int within1 = 0, within2 = 0;
  for (int i = 0; i < n; ++i) {
    const double z = s.normal(static_cast<std::uint64_t>(i));
    sum += z;
    sum2 += z * z;
    sum4 += z * z * z * z;
    within1 += std::abs(z) < 1.0;
    within2 += std::abs(z) < 2.0;
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  // Sampling errors: sd(mean) = 1e-3, sd(var) = sqrt(2/n) = 1.4e-3, sd(E z^4) = sqrt(96/n) ~ 1e-2.
  CHECK(std::abs(mean) < 5e-3);
  CHECK(std::abs(var - 1.0) < 7e-3);
  CHECK(std::abs(sum4 / n - 3.0) < 0.05);
  CHECK(std::abs(within1 / double(n) - 0.682689) < 2.5e-3);
  CHECK(std::abs(within2 / double(n) - 0.954500) < 1.1e-3);
}
