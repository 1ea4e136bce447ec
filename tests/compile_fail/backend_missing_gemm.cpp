// SPDX-License-Identifier: Apache-2.0
// Must NOT compile: an adaptor over a backend that lacks one primitive (gemm). The error must come
// from the adaptor's requires-clause and name the missing group, `gemm_primitives`, at the point of
// use (ctest matches that name in the compiler output). With BEACON_COMPILE_FAIL_CONTROL the same
// program uses the complete reference backend and builds, so the failure is the missing gemm alone.
#include <beacon/moe.hpp>

#include "../support/reference_backend.hpp"

namespace user {
/// The reference backend with gemm taken away: a deleted exact match wins overload resolution.
struct no_gemm_backend : beacon::testing::reference {};
template <class... Args>
void gemm(const no_gemm_backend&, Args&&...) = delete;
}  // namespace user

// The concepts themselves, checked in both builds: only the gemm group is missing, and the complete
// reference backend models every group.
static_assert(!beacon::gemm_primitives<user::no_gemm_backend, float>, "the deleted gemm must hide the reference backend's");
static_assert(beacon::memory_primitives<user::no_gemm_backend, float> && beacon::reduction_primitives<user::no_gemm_backend, float> &&
                  beacon::layer_primitives<user::no_gemm_backend, float>,
              "every other group is inherited from the reference backend");
static_assert(!beacon::complete_backend<user::no_gemm_backend, float>);
static_assert(beacon::complete_backend<beacon::testing::reference, float>);

#ifdef BEACON_COMPILE_FAIL_CONTROL
using backend_under_test = beacon::testing::reference;
#else
using backend_under_test = user::no_gemm_backend;
#endif

int main() {
  namespace moe = beacon::moe;
  moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, backend_under_test> a(
      backend_under_test{}, {.d_model = 8, .expert_hidden = 8});
  return static_cast<int>(a.experts());
}
