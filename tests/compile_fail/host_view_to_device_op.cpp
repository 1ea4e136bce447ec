// SPDX-License-Identifier: Apache-2.0
// Must NOT compile: a device-space view handed to a CPU-backend operation. ctest builds this file
// twice: as-is (expected to fail) and with BEACON_COMPILE_FAIL_CONTROL (host views, expected to
// build), so the failure is known to come from the memory-space check and nothing else.
// tests/cpu/views_test.cpp proves the same with static_asserts on the operations' constraints.
#include <beacon/beacon.hpp>

int main() {
  beacon::cpu be{1};
  float* p = nullptr;
#ifdef BEACON_COMPILE_FAIL_CONTROL
  auto in = beacon::host_matrix<const float>(p, 0, 4);
  auto out = beacon::host_matrix<float>(p, 0, 4);
#else
  auto in = beacon::device_matrix<const float>(p, 0, 4);
  auto out = beacon::device_matrix<float>(p, 0, 4);
#endif
  beacon::row_softmax(be, in, out);
}
