// CUDA tests: moe_test against the CPU path (filled in below).
#include "support.cuh"
