// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the lifelong-editing runner needs from a frozen host model, and the features it reads once.
//
// The adaptor sits beside one FFN block of the host. For a set of questions the host gives, per
// question, the block's input row x (what the adaptor reads), the routing row e (the instance
// embedding the router keys on) and the frozen residual stream after the block, h0 = x + FFN0(x).
// The edited model's block output is h = h0 + adaptor(x, e); the host maps h to an answer through the
// frozen rest (loss and prediction). A user plugs in their own model with a small adapter type that
// models `host_model` (see `bench_host` in examples/cli/edit_bench_common.hpp for the hosts of
// `beacon edit-bench`).

#include <concepts>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../core/eigen.hpp"
#include "../core/error.hpp"
#include "../core/view.hpp"

namespace beacon::edit {

/// Per question: block input x, routing row e and frozen block output h0 (one row each).
template <class T>
struct question_features {
  row_matrix<T> x, e, h0;
  [[nodiscard]] size_type rows() const noexcept { return x.rows(); }
  /// The rows `idx` of every matrix, in that order.
  [[nodiscard]] question_features select(const std::vector<index_type>& idx) const {
    question_features out;
    out.x.resize(static_cast<size_type>(idx.size()), x.cols());
    out.e.resize(static_cast<size_type>(idx.size()), e.cols());
    out.h0.resize(static_cast<size_type>(idx.size()), h0.cols());
    for (std::size_t i = 0; i < idx.size(); ++i) {
      const auto r = static_cast<size_type>(idx[i]);
      if (r < 0 || r >= rows()) beacon::fail("question_features::select", "idx", beacon::concat("rows in [0, ", rows(), ")"), r);
      out.x.row(static_cast<size_type>(i)) = x.row(r);
      out.e.row(static_cast<size_type>(i)) = e.row(r);
      out.h0.row(static_cast<size_type>(i)) = h0.row(r);
    }
    return out;
  }
};

/// A host model the runner can edit. `scalar` is the element type of its rows; `loss(h, targets, dh)`
/// is the training loss of answer ids `targets` given block outputs h (one row per question) through
/// the frozen rest, with dL/dh written to dh (resized by the host); `predict(h)` is the answer id of
/// each row.
template <class H>
concept host_model = requires(const H& host, const row_matrix<typename H::scalar>& h, const std::vector<index_type>& targets,
                              row_matrix<typename H::scalar>& dh) {
  typename H::scalar;
  { host.loss(h, targets, dh) } -> std::convertible_to<double>;
  { host.predict(h) } -> std::same_as<std::vector<index_type>>;
};

/// The edits of one run as the runner sees them: features of the edit prompts (src), their
/// paraphrases and the locality questions (row i of each belongs to edit i), the target answer of
/// every edit and the answer the unedited host gives to its locality question.
template <class T>
struct edit_set {
  question_features<T> src, rephrase, loc;
  std::vector<index_type> target, loc_answer;
  [[nodiscard]] size_type edits() const noexcept { return src.rows(); }
  /// Checks that every part has one row (and one answer) per edit.
  void validate(const char* fn) const {
    const size_type n = edits();
    beacon::require_extent(fn, "rephrase", "rows (edits)", rephrase.rows(), n);
    beacon::require_extent(fn, "loc", "rows (edits)", loc.rows(), n);
    beacon::require_extent(fn, "target", "size (edits)", static_cast<size_type>(target.size()), n);
    beacon::require_extent(fn, "loc_answer", "size (edits)", static_cast<size_type>(loc_answer.size()), n);
  }
};

/// The same edits with routing rows centred by `centre` (a row): e - centre for every question. The
/// anchor routers key on centred instance embeddings (the mean over the edit prompts removed).
template <class T>
edit_set<T> with_centred_routing(edit_set<T> s, const Eigen::Matrix<T, 1, Eigen::Dynamic>& centre) {
  for (auto* q : {&s.src, &s.rephrase, &s.loc}) q->e = q->e.rowwise() - centre;
  return s;
}

}  // namespace beacon::edit
