// SPDX-License-Identifier: Apache-2.0
#pragma once
// The fuzz harnesses' assertion: a property that fails prints its condition and location and aborts,
// which libFuzzer reports as a crash and saves the input as an artifact (doctest's CHECK does not
// apply: a harness runs inside libFuzzer's main, not a test runner).
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                     \
  do {                                                                                            \
    if (!(condition)) {                                                                           \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #condition, __FILE__, __LINE__); \
      std::abort();                                                                               \
    }                                                                                             \
  } while (false)
