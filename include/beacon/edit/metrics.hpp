// SPDX-License-Identifier: Apache-2.0
#pragma once
// Lifelong-editing scores (the LEMoE paper's token-level metrics on single-answer hosts):
//   Rel  share of edit prompts answered with the new target
//   Gen  share of paraphrases answered with the new target
//   Loc  share of locality questions whose answer did not change
//   Avg  (Rel + Gen + Loc) / 3
// Routing diagnostics come from the adaptor itself (routing_matrix / routing_consistency).

#include <vector>

#include "host.hpp"

namespace beacon::edit {

struct edit_scores {
  double rel = 0, gen = 0, loc = 0, avg = 0;
};

/// Scores of edits `idx` given the edited block outputs of their prompts, paraphrases and locality
/// questions (row q of each belongs to edit idx[q]).
template <host_model H>
edit_scores score(const H& host, const edit_set<typename H::scalar>& s, const std::vector<index_type>& idx,
                  const row_matrix<typename H::scalar>& h_src, const row_matrix<typename H::scalar>& h_rephrase,
                  const row_matrix<typename H::scalar>& h_loc) {
  const char* fn = "edit::score";
  const auto n = static_cast<size_type>(idx.size());
  beacon::require_extent(fn, "h_src", "rows (idx.size)", h_src.rows(), n);
  beacon::require_extent(fn, "h_rephrase", "rows (idx.size)", h_rephrase.rows(), n);
  beacon::require_extent(fn, "h_loc", "rows (idx.size)", h_loc.rows(), n);
  edit_scores r;
  if (n == 0) return r;
  const auto ps = host.predict(h_src), pr = host.predict(h_rephrase), pl = host.predict(h_loc);
  double rel = 0, gen = 0, loc = 0;
  for (std::size_t q = 0; q < idx.size(); ++q) {
    const auto k = static_cast<std::size_t>(idx[q]);
    rel += ps[q] == s.target[k];
    gen += pr[q] == s.target[k];
    loc += pl[q] == s.loc_answer[k];
  }
  r.rel = rel / static_cast<double>(n);
  r.gen = gen / static_cast<double>(n);
  r.loc = loc / static_cast<double>(n);
  r.avg = (r.rel + r.gen + r.loc) / 3;
  return r;
}

}  // namespace beacon::edit
