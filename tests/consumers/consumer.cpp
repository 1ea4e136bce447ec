// SPDX-License-Identifier: Apache-2.0
// The program every "package" test builds against beacon: through find_package(beacon), through
// add_subdirectory(beacon), and through pkg-config. It runs two real operations on the CPU backend
// and returns nonzero on any mismatch.
//
// Optional defines from the build: BEACON_EXPECTED_VERSION ("x.y.z" from the package metadata,
// compared with the headers' BEACON_VERSION_STRING) and BEACON_EXPECT_OPENMP (0/1: whether the
// package's usage requirements must have turned OpenMP on).

#include <beacon/beacon.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#if defined(BEACON_EXPECT_OPENMP) && BEACON_EXPECT_OPENMP && !defined(_OPENMP)
#error "beacon was built with OpenMP but its usage requirements did not enable OpenMP here"
#endif

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what);
    ++failures;
  }
}

bool near(double a, double b) { return std::fabs(a - b) <= 1e-6; }

}  // namespace

int main() {
#if defined(BEACON_EXPECTED_VERSION)
  expect(std::strcmp(BEACON_VERSION_STRING, BEACON_EXPECTED_VERSION) == 0,
         "headers' BEACON_VERSION_STRING matches the package version");
#endif

  const float inf = std::numeric_limits<float>::infinity();
  beacon::cpu be{2};
  beacon::row_matrix<float> logits{{2.f, 1.f, 0.5f, 3.f}, {0.f, -inf, 1.f, 1.f}};

  // row_softmax against a double-precision reference; the -inf entry is a mask (exactly 0).
  beacon::row_matrix<float> probs(2, 4);
  beacon::row_softmax(be, beacon::as_view(logits), beacon::as_view(probs));
  for (int i = 0; i < 2; ++i) {
    double sum = 0;
    for (int j = 0; j < 4; ++j) sum += logits(i, j) > -inf ? std::exp(double(logits(i, j))) : 0.0;
    for (int j = 0; j < 4; ++j) {
      const double want = logits(i, j) > -inf ? std::exp(double(logits(i, j))) / sum : 0.0;
      expect(near(probs(i, j), want), "row_softmax matches the reference");
    }
  }
  expect(probs(1, 1) == 0.f, "row_softmax gives exactly 0 for a -inf logit");

  // softmax_top_k, k = 2, renormalized: descending, ties to the lower column index.
  beacon::row_matrix<float> weights(2, 2);
  Eigen::Matrix<beacon::index_type, 2, 2, Eigen::RowMajor> ids;
  beacon::softmax_top_k(be, beacon::as_view(logits), 2, /*renormalize=*/true, beacon::as_view(weights),
                        beacon::as_view(ids));
  expect(ids(0, 0) == 3 && ids(0, 1) == 0, "softmax_top_k row 0 picks experts 3, 0");
  expect(ids(1, 0) == 2 && ids(1, 1) == 3, "softmax_top_k row 1 picks experts 2, 3 (tie to the lower index)");
  const double e3 = std::exp(3.0), e2 = std::exp(2.0);
  expect(near(weights(0, 0), e3 / (e3 + e2)) && near(weights(0, 1), e2 / (e3 + e2)),
         "softmax_top_k row 0 weights");
  expect(near(weights(1, 0), 0.5) && near(weights(1, 1), 0.5), "softmax_top_k row 1 weights");

  if (failures != 0) return 1;
  std::printf("beacon %s consumer OK: row_softmax and softmax_top_k on beacon::cpu (%d threads max)\n",
              BEACON_VERSION_STRING, beacon::cpu::default_threads());
  return 0;
}
