// SPDX-License-Identifier: Apache-2.0
#pragma once
// Which routing row each token row of a forward uses, for instance-level routing (every token of
// a sequence shares its instance's route):
//
//   uniform: every sequence has L tokens; token t uses routing row t / L (token-level routers: L = 1)
//   ragged:  sequence r owns token rows [sequence_offsets[r], sequence_offsets[r+1]) (any lengths,
//            0 included); route_of_token[t] is its row, precomputed so kernels need no search
//
// Both arrays of the ragged form live in the backend's memory space; the functors of
// kernels/row_kernels.hpp read them on the device. The adaptor builds them from the host offsets
// a caller passes (adaptor.hpp) after validating them: kernels do not re-check.

#include "../core/config.hpp"
#include "../core/view.hpp"

namespace beacon::moe {

template <class Space>
struct token_routes {
  size_type tokens_per_route = 1;                 ///< uniform L (ignored when ragged)
  const index_type* sequence_offsets = nullptr;   ///< ragged: routing rows + 1 entries
  const index_type* route_of_token = nullptr;     ///< ragged: one entry per token

  token_routes() = default;
  /// Uniform: every routing row owns `tokens_per_route_` consecutive tokens (implicit, so a plain
  /// L keeps working wherever token routes are asked for).
  BEACON_HD token_routes(size_type tokens_per_route_) : tokens_per_route(tokens_per_route_) {}  // NOLINT(google-explicit-constructor)
  /// Ragged: both arrays in `Space`, from the adaptor's validated host offsets.
  BEACON_HD token_routes(const index_type* offsets, const index_type* route_of) : sequence_offsets(offsets), route_of_token(route_of) {}

  [[nodiscard]] BEACON_HD bool ragged() const { return route_of_token != nullptr; }
  /// Routing row of token t.
  [[nodiscard]] BEACON_HD size_type row(size_type t) const {
    return ragged() ? static_cast<size_type>(route_of_token[t]) : t / tokens_per_route;
  }
  /// First token of routing row r, and one past its last.
  [[nodiscard]] BEACON_HD size_type first(size_type r) const {
    return ragged() ? static_cast<size_type>(sequence_offsets[r]) : r * tokens_per_route;
  }
  [[nodiscard]] BEACON_HD size_type end(size_type r) const {
    return ragged() ? static_cast<size_type>(sequence_offsets[r + 1]) : (r + 1) * tokens_per_route;
  }
};

}  // namespace beacon::moe
