// SPDX-License-Identifier: Apache-2.0
// Entry point of the CUDA tests: without a visible GPU there is nothing to run them on, so the
// binary says why and exits 77, which ctest (SKIP_RETURN_CODE 77) reports as skipped.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cuda_runtime_api.h>

#include <cstdio>

int main(int argc, char** argv) {
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    std::printf("beacon CUDA tests SKIPPED: no CUDA device visible (%s)\n",
                status != cudaSuccess ? cudaGetErrorString(status) : "cudaGetDeviceCount found 0 devices");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
