// SPDX-License-Identifier: Apache-2.0
// The backend conformance suite (tests/conformance/primitives.hpp) for the host backends: beacon::cpu
// (checked against the reference backend as oracle) and the reference backend itself (checked
// against the suite's hand-computed and analytic values).
#include "primitives.hpp"

TYPE_TO_STRING(beacon::cpu);
TYPE_TO_STRING(beacon::testing::reference);

BEACON_CONFORMANCE_SUITE(beacon::cpu, beacon::testing::reference);
