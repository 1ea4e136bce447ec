// SPDX-License-Identifier: Apache-2.0
#pragma once
// Per-instance anchor routing: the robust variant measured in spec lemoe.md §12 (Avg .83 on ZsRE
// where the paper-faithful KV router collapsed to chance). Every edited instance's embedding is
// stored as an anchor of the expert that learned it; a query goes to the expert owning the most
// similar anchor (cosine after centring by the mean of all stored anchors), or to no expert when
// that similarity is below a threshold (the null route that protects locality). Nothing here is
// trained, so later steps cannot move earlier routes: insertion only adds anchors.
//
// Beyond the paper (which uses one learned key per expert). Its state is data, not parameters:
// io::save_adaptor stores the anchors and their owners as two extra tensors.

#include <cmath>
#include <string>
#include <vector>

#include "routing.hpp"

#include <beacon/moe/instance_anchor_router.hpp>  // the option vocabulary

namespace beacon::oracle {

using moe::instance_anchor_options;

template <class TopK>
struct instance_anchor_router {
  static constexpr size_type k = TopK::value;
  static constexpr bool instance_level = true;
  static constexpr const char* name = "instance_anchor";
  using options = instance_anchor_options;

  template <class T>
  struct state {
    size_type d_model = 0;
    options opt;
    row_matrix<T> anchors;             // raw anchor embeddings, one per edited instance
    std::vector<index_type> owner;     // expert of each anchor
    row_matrix<T> unit;                // centred, normalised anchors
    Eigen::Matrix<T, 1, Eigen::Dynamic> mean;
    size_type experts = 0;
    std::vector<parameter<T>*> params() { return {}; }  // nothing to train
  };

  template <class T>
  struct cache {
    routing_result<T> route;
  };

  template <class T>
  static state<T> make(size_type d_model, size_type, size_type, const options& o, std::uint64_t) {
    state<T> s;
    s.d_model = d_model;
    s.opt = o;
    s.anchors.resize(0, d_model);
    s.mean = Eigen::Matrix<T, 1, Eigen::Dynamic>::Zero(d_model);
    return s;
  }

  /// Stores the new batch's instance embeddings as anchors of expert `slot`.
  template <class T>
  static void insert(state<T>& s, size_type slot, const Eigen::Ref<const row_matrix<T>>& batch_e, std::uint64_t) {
    if (batch_e.rows() > 0 && batch_e.cols() != s.d_model)
      beacon::detail::fail<shape_error>("instance_anchor_router::insert", "batch", beacon::detail::concat(s.d_model, " columns"), batch_e.cols());
    const size_type old = s.anchors.rows();
    s.anchors.conservativeResize(old + batch_e.rows(), s.d_model);
    if (batch_e.rows() > 0) s.anchors.bottomRows(batch_e.rows()) = batch_e;
    s.owner.insert(s.owner.end(), static_cast<std::size_t>(batch_e.rows()), static_cast<index_type>(slot));
    s.experts = slot + 1;
    rebuild(s);
  }

  /// Replaces the anchors (e.g. from a checkpoint): anchors is N x d, owner[i] the expert of row i,
  /// every owner in [0, experts) where experts is the number of experts already inserted.
  template <class T>
  static void restore(state<T>& s, row_matrix<T> anchors, std::vector<index_type> owner) {
    const char* fn = "instance_anchor_router::restore";
    if (anchors.rows() > 0 && anchors.cols() != s.d_model)
      beacon::detail::fail<shape_error>(fn, "anchors", beacon::detail::concat(s.d_model, " columns"), anchors.cols());
    if (static_cast<size_type>(owner.size()) != anchors.rows())
      beacon::detail::fail<shape_error>(fn, "owner", beacon::detail::concat(anchors.rows(), " entries (one per anchor)"), owner.size());
    for (index_type o : owner)
      if (o < 0 || o >= s.experts) beacon::detail::fail(fn, "owner", beacon::detail::concat("expert ids in [0, ", s.experts, ")"), o);
    if (!anchors.allFinite()) beacon::detail::fail(fn, "anchors", "finite values", "a NaN or Inf");
    s.anchors = std::move(anchors);
    s.owner = std::move(owner);
    rebuild(s);
  }

  template <class T>
  static void route(const state<T>& s, const Eigen::Ref<const row_matrix<T>>& e, cache<T>& c, size_type forced = -1) {
    if (s.experts == 0) beacon::detail::fail("instance_anchor_router::route", "experts", ">= 1 (insert an expert first)", 0);
    if (e.cols() != s.d_model)
      beacon::detail::fail<shape_error>("instance_anchor_router::route", "instance_embeddings", beacon::detail::concat(s.d_model, " columns"), e.cols());
    row_matrix<T> q = e.rowwise() - s.mean;
    for (size_type b = 0; b < q.rows(); ++b) {
      const T n = q.row(b).norm();
      if (n > T(0)) q.row(b) /= n;
    }
    const row_matrix<T> cos = q * s.unit.transpose();  // B x anchors
    c.route.scores = row_matrix<T>::Constant(e.rows(), s.experts, T(-2));
    for (size_type b = 0; b < e.rows(); ++b)
      for (size_type a = 0; a < cos.cols(); ++a) {
        T& best = c.route.scores(b, s.owner[static_cast<std::size_t>(a)]);
        best = std::max(best, cos(b, a));
      }
    detail::select(c.route, k, gate_norm::renormalize_top_k);
    for (size_type b = 0; b < c.route.rows; ++b) {
      if (forced >= 0) {
        c.route.ids[static_cast<std::size_t>(b * c.route.k)] = static_cast<index_type>(forced);
        c.route.gates[static_cast<std::size_t>(b * c.route.k)] = T(1);
        for (size_type j = 1; j < c.route.k; ++j) {
          c.route.ids[static_cast<std::size_t>(b * c.route.k + j)] = -1;
          c.route.gates[static_cast<std::size_t>(b * c.route.k + j)] = T(0);
        }
      } else if (c.route.scores.row(b).maxCoeff() < static_cast<T>(s.opt.threshold)) {
        for (size_type j = 0; j < c.route.k; ++j) {
          c.route.ids[static_cast<std::size_t>(b * c.route.k + j)] = -1;
          c.route.gates[static_cast<std::size_t>(b * c.route.k + j)] = T(0);
        }
      }
    }
  }

  /// Nothing is trained: routing is a nearest-anchor lookup.
  template <class T>
  static void backward(state<T>&, const cache<T>&, const std::vector<T>&) {}

 private:
  /// The centred, normalised anchors that route() compares against.
  template <class T>
  static void rebuild(state<T>& s) {
    s.mean = s.opt.centre && s.anchors.rows() > 0 ? Eigen::Matrix<T, 1, Eigen::Dynamic>(s.anchors.colwise().mean())
                                                  : Eigen::Matrix<T, 1, Eigen::Dynamic>::Zero(s.d_model);
    s.unit = s.anchors.rowwise() - s.mean;
    for (size_type i = 0; i < s.unit.rows(); ++i) {
      const T n = s.unit.row(i).norm();
      if (n > T(0)) s.unit.row(i) /= n;
    }
  }
};

}  // namespace beacon::oracle
