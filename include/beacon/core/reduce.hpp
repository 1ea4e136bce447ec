// SPDX-License-Identifier: Apache-2.0
#pragma once
// Deterministic (fixed-order) reductions.
//
// The order of additions depends only on the length n, never on thread count or scheduling: the
// input is cut into fixed blocks of `reduce_block` elements, each block is summed by a fixed
// pairwise tree, and the block partials are combined by the same tree. Backends may sum the blocks
// in parallel; the result is bit-identical to the sequential call.

#include <cstddef>

#include "config.hpp"

namespace beacon {

/// Elements per block of a deterministic reduction (a property of the result, not a tuning knob).
inline constexpr size_type reduce_block = 2048;

/// Pairwise sum of value(0..n-1) over a tree fixed by n: leaves of 8 are summed left to right and
/// merged like a binary counter (equal-size subtrees combine), then the remaining partials fold
/// right to left. O(log n) error growth, O(log n) state, no recursion (so it runs on the device).
template <class T, class Value>
BEACON_HD T pairwise_sum(size_type n, const Value& value) {
  constexpr size_type leaf = 8;
  T partial[64];
  int level[64];
  int top = 0;
  for (size_type lo = 0; lo < n; lo += leaf) {
    const size_type hi = (n - lo < leaf) ? n : lo + leaf;
    T s = T(0);
    for (size_type i = lo; i < hi; ++i) s += value(i);
    int l = 0;
    while (top > 0 && level[top - 1] == l) {
      s = partial[--top] + s;
      ++l;
    }
    partial[top] = s;
    level[top] = l;
    ++top;
  }
  T result = T(0);
  if (top > 0) {
    result = partial[--top];
    while (top > 0) result = partial[--top] + result;
  }
  return result;
}

/// Pairwise sum of a contiguous array.
template <class T>
BEACON_HD T pairwise_sum(const T* x, size_type n) {
  return pairwise_sum<T>(n, [x](size_type i) { return x[i]; });
}

/// Number of fixed blocks a deterministic reduction of n elements uses.
constexpr size_type reduce_block_count(size_type n) noexcept { return (n + reduce_block - 1) / reduce_block; }

/// Sequential reference of the blocked deterministic sum (what every backend must reproduce).
template <class T, class Value>
T blocked_sum(size_type n, const Value& value) {
  const size_type blocks = reduce_block_count(n);
  return pairwise_sum<T>(blocks, [&](size_type b) {
    const size_type lo = b * reduce_block;
    const size_type len = (n - lo < reduce_block) ? n - lo : reduce_block;
    return pairwise_sum<T>(len, [&](size_type i) { return value(lo + i); });
  });
}

}  // namespace beacon
