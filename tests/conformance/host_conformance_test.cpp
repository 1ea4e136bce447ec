// SPDX-License-Identifier: Apache-2.0
// The backend conformance suite (tests/conformance/primitives.hpp) for the host backends: beacon::cpu
// (checked against the reference backend as oracle) and the reference backend itself (checked
// against the suite's hand-computed and analytic values).
#include "primitives.hpp"

TYPE_TO_STRING(beacon::cpu);
TYPE_TO_STRING(beacon::testing::reference);

BEACON_CONFORMANCE_SUITE(beacon::cpu, beacon::testing::reference);

// The suite above checks the primitives; this checks what it is instantiated for: both host backends
// model the whole contract and validate data (so the suite's data-error expectations apply).
static_assert(beacon::complete_backend<beacon::cpu, float> && beacon::complete_backend<beacon::cpu, double>);
static_assert(beacon::complete_backend<beacon::testing::reference, float> && beacon::complete_backend<beacon::testing::reference, double>);

TEST_CASE("conformance: the host backends under test validate data and are made as the suite expects") {
  CHECK(beacon_conformance::backend_under_test<beacon::cpu>::checks_data);
  CHECK(beacon_conformance::backend_under_test<beacon::testing::reference>::checks_data);
  CHECK(beacon_conformance::backend_under_test<beacon::cpu>::make().threads() == 2);
  CHECK(beacon_conformance::backend_under_test<beacon::testing::reference>::make().name() == "reference");
}
