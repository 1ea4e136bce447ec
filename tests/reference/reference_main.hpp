// SPDX-License-Identifier: Apache-2.0
#pragma once
// The shared main() of the optional reference cross-checks: Debian's interpreter runs the reference
// script, which writes its inputs and results into a scratch file, then the doctest cases compare
// beacon with them. A script exit code of 77 (its library is not installed) makes the program print
// why and exit 77, which ctest reports as skipped (or fail, where BEACON_REQUIRE_REFERENCE=1).
//
//   argv: <script.py> <scratch file> [doctest options]
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace beacon_reference {

/// Largest |got - want| / (1e-10 + 1e-10 |want|): <= 1 means within the cross-checks' tolerance.
inline double worst(const std::vector<double>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return INFINITY;
  double w = 0;
  for (std::size_t i = 0; i < got.size(); ++i) w = std::max(w, std::abs(got[i] - want[i]) / (1e-10 + 1e-10 * std::abs(want[i])));
  return w;
}

/// The scratch file the script wrote (set before the test cases run).
inline std::string reference_file;

inline int run(int argc, char** argv, const char* skip_message) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <reference script.py> <scratch file> [doctest options]\n", argv[0]);
    return 2;
  }
  reference_file = argv[2];
  // Debian's interpreter: a python3 first on PATH (pyenv, a venv) may lack the system's packages.
  const std::string command = std::string("/usr/bin/python3 ") + argv[1] + " " + argv[2];
  const int status = std::system(command.c_str());
  if (status != 0 && WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    // CI installs every reference library (scripts/install-deps.sh) and sets BEACON_REQUIRE_REFERENCE:
    // there a skipped cross-check is a failure, not a pass in disguise.
    const char* required = std::getenv("BEACON_REQUIRE_REFERENCE");
    if (required != nullptr && std::string(required) == "1") {
      std::fprintf(stderr, "FAILED: %s, and BEACON_REQUIRE_REFERENCE=1 forbids skipping this cross-check\n", skip_message);
      return 1;
    }
    std::printf("SKIPPED: %s\n", skip_message);
    return 77;
  }
  if (status != 0) {
    std::fprintf(stderr, "reference script failed (status %d)\n", status);
    return 1;
  }
  doctest::Context ctx(argc - 2, argv + 2);
  return ctx.run();
}

}  // namespace beacon_reference
