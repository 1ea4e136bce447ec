// SPDX-License-Identifier: Apache-2.0
#pragma once
// Philox4x32-10 counter-based RNG (Salmon et al., SC'11), usable on host and device.
//
// A random stream is (seed, offset): element i of the stream is a pure function of
// (seed, offset + i), so any thread on any device can draw element i without shared state, and the
// CPU and CUDA backends draw bit-identical variates. Position p = offset + i maps to Philox block
// p / 4 (counter = {lo32(p/4), hi32(p/4), 0, 0}, key = {lo32(seed), hi32(seed)}) and lane p % 4.
//
// Variates are computed with IEEE-exact operations only (integer ops, +, *, /, sqrt and explicit
// fma), never with the platform's logf/sinf/cosf, whose last bits differ between glibc and CUDA.
// That is what makes host == device bit-identical regardless of compiler FMA contraction.

#include <cmath>
#include <cstdint>
#include <cstring>

#include "config.hpp"

namespace beacon {

struct philox4x32_counter {
  std::uint32_t v[4];
};
struct philox4x32_key {
  std::uint32_t v[2];
};

namespace detail {
BEACON_HD void mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * static_cast<std::uint64_t>(b);
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

BEACON_HD float fma_f(float a, float b, float c) {
#if BEACON_DEVICE_PASS
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

BEACON_HD float sqrt_f(float x) {
#if BEACON_DEVICE_PASS
  return __fsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}

BEACON_HD float div_f(float a, float b) {
#if BEACON_DEVICE_PASS
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

BEACON_HD float mul_f(float a, float b) {
#if BEACON_DEVICE_PASS
  return __fmul_rn(a, b);  // never contracted into an fma
#else
  return a * b;
#endif
}

BEACON_HD float add_f(float a, float b) {
#if BEACON_DEVICE_PASS
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

/// Natural log for x in (0, 1]: exact range reduction to m in [sqrt(1/2), sqrt(2)), then
/// log m = 2 atanh(s), s = (m-1)/(m+1), as an odd series (truncation error < 1e-9 relative).
BEACON_HD float portable_log(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  int e = static_cast<int>((bits >> 23) & 0xffu) - 127;
  bits = (bits & 0x007fffffu) | 0x3f800000u;
  float m;
  std::memcpy(&m, &bits, sizeof m);
  if (m > 1.41421356f) {
    m = mul_f(m, 0.5f);
    ++e;
  }
  const float f = add_f(m, -1.0f);  // exact (Sterbenz)
  const float s = div_f(f, add_f(2.0f, f));
  const float z = mul_f(s, s);
  float p = fma_f(0.111111111f, z, 0.142857143f);
  p = fma_f(p, z, 0.2f);
  p = fma_f(p, z, 0.333333333f);
  const float two_s = mul_f(2.0f, s);
  const float log_m = fma_f(mul_f(two_s, z), p, two_s);
  return fma_f(static_cast<float>(e), 0.693147181f, log_m);
}

/// sin and cos of 2*pi*u for u in [0, 1): exact quadrant reduction of 4u, then Taylor polynomials
/// of sin(pi r / 2), cos(pi r / 2) on r in [-1/2, 1/2] (truncation error < 2e-9).
BEACON_HD void portable_sincos_2pi(float u, float& s_out, float& c_out) {
  const float t = mul_f(4.0f, u);
#if BEACON_DEVICE_PASS
  const float q = rintf(t);  // round-half-even; the result is exact
#else
  const float q = std::nearbyint(t);
#endif
  const float r = add_f(t, -q);       // exact
  const float r2 = mul_f(r, r);
  float ps = fma_f(1.604411848e-04f, r2, -4.681754135e-03f);
  ps = fma_f(ps, r2, 7.969262625e-02f);
  ps = fma_f(ps, r2, -6.459640975e-01f);
  ps = fma_f(ps, r2, 1.570796327f);
  const float sn = mul_f(r, ps);
  float pc = fma_f(-2.520204237e-05f, r2, 9.192602748e-04f);
  pc = fma_f(pc, r2, -2.086348076e-02f);
  pc = fma_f(pc, r2, 2.536695079e-01f);
  pc = fma_f(pc, r2, -1.233700550f);
  const float cs = fma_f(pc, r2, 1.0f);
  switch (static_cast<int>(q) & 3) {
    case 0: s_out = sn; c_out = cs; break;
    case 1: s_out = cs; c_out = -sn; break;
    case 2: s_out = -sn; c_out = -cs; break;
    default: s_out = -cs; c_out = sn; break;
  }
}
}  // namespace detail

/// One Philox4x32 block with 10 rounds: the Random123 reference algorithm.
BEACON_HD philox4x32_counter philox4x32_10(philox4x32_counter ctr, philox4x32_key key) {
  constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
  constexpr std::uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key.v[0] += w0;
      key.v[1] += w1;
    }
    std::uint32_t hi0, lo0, hi1, lo1;
    detail::mulhilo32(m0, ctr.v[0], hi0, lo0);
    detail::mulhilo32(m1, ctr.v[2], hi1, lo1);
    ctr = philox4x32_counter{{hi1 ^ ctr.v[1] ^ key.v[0], lo1, hi0 ^ ctr.v[3] ^ key.v[1], lo0}};
  }
  return ctr;
}

/// Uniform float in the open interval (0, 1) from 23 random bits: (k + 1/2) * 2^-23, exact.
BEACON_HD float uniform_from_bits(std::uint32_t x) {
  return (static_cast<float>(x >> 9) + 0.5f) * 1.1920928955078125e-07f;
}

/// Uniform double in (0, 1) from 52 random bits of two words: (k + 1/2) * 2^-52, exact.
BEACON_HD double uniform_double_from_bits(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t k = (static_cast<std::uint64_t>(hi) << 20) | (lo >> 12);
  return (static_cast<double>(k) + 0.5) * 2.220446049250313e-16;
}

/// Standard-normal pair from two uniform words (Box-Muller), bit-identical on host and device.
BEACON_HD void box_muller(std::uint32_t a, std::uint32_t b, float& z0, float& z1) {
  const float u0 = uniform_from_bits(a);
  const float u1 = uniform_from_bits(b);
  const float radius = detail::sqrt_f(-2.0f * detail::portable_log(u0));
  float s, c;
  detail::portable_sincos_2pi(u1, s, c);
  z0 = detail::mul_f(radius, c);
  z1 = detail::mul_f(radius, s);
}

/// A Philox random stream: element i is a function of (seed, offset + i) only.
struct philox_stream {
  std::uint64_t seed = 0;
  std::uint64_t offset = 0;

  BEACON_HD philox4x32_key key() const {
    return philox4x32_key{{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  }
  /// The four words of Philox block `block` (absolute, i.e. already including the offset).
  BEACON_HD philox4x32_counter block_bits(std::uint64_t block) const {
    return philox4x32_10(
        philox4x32_counter{{static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32), 0u, 0u}}, key());
  }
  /// Four standard normals of absolute block `block`: positions 4*block .. 4*block+3.
  BEACON_HD void normal4(std::uint64_t block, float out[4]) const {
    const philox4x32_counter w = block_bits(block);
    box_muller(w.v[0], w.v[1], out[0], out[1]);
    box_muller(w.v[2], w.v[3], out[2], out[3]);
  }
  /// Element i of the stream as a standard normal.
  BEACON_HD float normal(std::uint64_t i) const {
    const std::uint64_t p = offset + i;
    float z[4];
    normal4(p >> 2, z);
    return z[p & 3u];
  }
  /// Element i of the stream as a uniform float in (0, 1).
  BEACON_HD float uniform(std::uint64_t i) const {
    const std::uint64_t p = offset + i;
    return uniform_from_bits(block_bits(p >> 2).v[p & 3u]);
  }
  /// Element i of the stream as a uniform double in (0, 1); uses words (2j, 2j+1) of the blocks.
  BEACON_HD double uniform_double(std::uint64_t i) const {
    const std::uint64_t p = 2 * (offset + i);
    const philox4x32_counter w = block_bits(p >> 2);
    const unsigned lane = static_cast<unsigned>(p & 3u);
    return uniform_double_from_bits(w.v[lane], w.v[lane + 1]);
  }
  /// The stream advanced by n elements (for handing disjoint ranges to consecutive calls).
  BEACON_HD philox_stream advanced(std::uint64_t n) const { return philox_stream{seed, offset + n}; }
};

}  // namespace beacon
