// SPDX-License-Identifier: Apache-2.0
// Fixture of docs.reference_check_fails: documented_function is in the fixture's docs,
// undocumented_type is not, and detail names are not public.
#pragma once
namespace beacon {
namespace detail {
inline int hidden_helper() { return 0; }
}  // namespace detail
inline int documented_function(int x) { return x; }
struct undocumented_type {
  int member_function() const { return 1; }
};
}  // namespace beacon
