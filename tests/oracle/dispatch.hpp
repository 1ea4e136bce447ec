// SPDX-License-Identifier: Apache-2.0
#pragma once
// Expert dispatch: the (token, choice) pairs of a routing grouped by expert, so each expert runs
// one GEMM over its tokens. Pairs are ordered by expert, then token, then choice (a stable counting
// sort), which makes combine order - and so the result - deterministic.

#include <vector>

#include <beacon/backend/cpu/group.hpp>
#include "routing.hpp"

namespace beacon::oracle {

struct dispatch_plan {
  size_type experts = 0;
  std::vector<index_type> counts;   ///< pairs per expert
  std::vector<index_type> offsets;  ///< experts + 1; pairs of expert e: [offsets[e], offsets[e+1])
  std::vector<index_type> token;    ///< token row of each pair, grouped by expert
  std::vector<index_type> choice;   ///< which of the k choices the pair is
};

/// Groups tokens by expert. ids: R x k routing rows (-1 = no expert); a token t uses routing row
/// t / tokens_per_route (instance-level routing: all L tokens of an instance share its gates).
inline dispatch_plan make_dispatch(const cpu& be, const std::vector<index_type>& ids, size_type k, size_type experts,
                                   size_type tokens, size_type tokens_per_route) {
  if (tokens_per_route < 1) beacon::detail::fail("make_dispatch", "tokens_per_route", ">= 1", tokens_per_route);
  std::vector<index_type> keys, pair_token, pair_choice;
  for (size_type t = 0; t < tokens; ++t)
    for (size_type j = 0; j < k; ++j) {
      const index_type e = ids[static_cast<std::size_t>((t / tokens_per_route) * k + j)];
      if (e < 0) continue;
      if (e >= experts) beacon::detail::fail("make_dispatch", "ids", beacon::detail::concat("expert ids < ", experts), e);
      keys.push_back(e);
      pair_token.push_back(static_cast<index_type>(t));
      pair_choice.push_back(static_cast<index_type>(j));
    }
  dispatch_plan p;
  p.experts = experts;
  p.offsets.resize(static_cast<std::size_t>(experts + 1));
  std::vector<index_type> perm(keys.size());
  group_rows_by_key(be, host_vector<const index_type>(keys.data(), static_cast<size_type>(keys.size())), experts,
                    host_vector(p.offsets.data(), experts + 1), host_vector(perm.data(), static_cast<size_type>(perm.size())));
  for (size_type e = 0; e < experts; ++e) p.counts.push_back(p.offsets[static_cast<std::size_t>(e + 1)] - p.offsets[static_cast<std::size_t>(e)]);
  for (index_type q : perm) {
    p.token.push_back(pair_token[static_cast<std::size_t>(q)]);
    p.choice.push_back(pair_choice[static_cast<std::size_t>(q)]);
  }
  return p;
}

}  // namespace beacon::oracle
