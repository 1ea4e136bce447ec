// SPDX-License-Identifier: Apache-2.0
#pragma once
// The lifelong-editing loop of an MoE adaptor (LEMoE §3 and its baselines): per editing step, insert
// a new expert (earlier experts frozen by the adaptor's config) keyed on the step's instance
// embeddings, then train on the step's edits until the batch loss is below a threshold or an
// iteration cap is reached (each step reports which); after the last step, score every edit of the
// stream with the final adaptor (the paper's evaluation after all edits) and read the routing matrix.
//
//   edit::adaptor_run r = edit::edit_with_adaptor(adaptor, host, edits, batches, options);
//
// The adaptor is any moe::adaptor on the CPU backend (host rows); the host any edit::host_model.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "../core/adamw.hpp"
#include "../moe/expert_init.hpp"
#include "host.hpp"
#include "metrics.hpp"
#include "order.hpp"

namespace beacon::edit {

/// One editing step's training: iterations run, the last batch loss, and whether the loss threshold
/// (rather than the iteration cap) ended it.
struct step_report {
  long long iterations = 0;
  double final_loss = 0;
  bool reached_threshold = false;
  size_type trained_edits = 0;
};

struct adaptor_run_options {
  bool insert_each_step = true;  ///< LEMoE: one new expert per step; false: every expert exists from the start (MoE baseline)
  bool forced = false;           ///< the new expert trains with forced routing (the anchor routers)
  bool replay = false;           ///< routing replay: the router's cross-entropy over every batch so far (routers that support it)
  double lr = 1e-2;              ///< AdamW learning rate (weight decay 0)
  double loss_threshold = 0.05;  ///< a step ends when the batch loss is below this ...
  long long max_iters = 150;     ///< ... or after this many iterations
  std::uint64_t seed = 0;        ///< expert initialisation: stream seed * 131 + step
  double init_scale = 0;         ///< expert initialisation std; 0 = 1 / sqrt(d)
  /// Called after every training iteration (step, steps, iteration, loss); may be empty.
  std::function<void(size_type, size_type, long long, double)> progress;
};

struct adaptor_run {
  edit_scores scores;
  std::vector<step_report> steps;
  std::vector<std::vector<double>> routing;  ///< adaptor::routing_matrix over the batches' edit prompts
  double routing_consistency = 0;            ///< share of edits routed to their own step's expert
  double routed_src = 1, routed_loc = 1;     ///< share of prompts / locality questions routed to some expert
  double seconds = 0;                        ///< wall time of the training (not the scoring)
};

/// Edits `s` in the order of `batches` with adaptor `ad` (fresh: no experts yet). `trained` (one flag
/// per edit, or empty for all) leaves edits out of training (a semantic filter) but not out of scoring.
template <class Adaptor, host_model H>
adaptor_run edit_with_adaptor(Adaptor& ad, const H& host, const edit_set<typename H::scalar>& s, const batch_list& batches,
                              const std::vector<char>& trained, const adaptor_run_options& o) {
  using T = typename H::scalar;
  using mat = row_matrix<T>;
  const char* fn = "edit::edit_with_adaptor";
  s.validate(fn);
  if (!trained.empty()) beacon::require_extent(fn, "trained", "size (edits)", static_cast<size_type>(trained.size()), s.edits());
  if (!(o.loss_threshold >= 0)) beacon::fail(fn, "options.loss_threshold", ">= 0", o.loss_threshold);
  if (o.max_iters < 0) beacon::fail(fn, "options.max_iters", ">= 0", o.max_iters);
  if (ad.experts() != 0) beacon::fail(fn, "ad", "an adaptor without experts", beacon::concat(ad.experts(), " experts"));
  const auto S = static_cast<size_type>(batches.size());
  const double scale = o.init_scale > 0 ? o.init_scale : 1.0 / std::sqrt(static_cast<double>(s.src.x.cols()));
  auto init = [&](size_type step) { return moe::expert_init<T>::random_normal(o.seed * 131 + static_cast<std::uint64_t>(step), scale); };
  if (!o.insert_each_step)
    for (size_type step = 0; step < S; ++step) ad.insert_expert(init(step));

  adaptor_run r;
  const auto t0 = std::chrono::steady_clock::now();
  mat seen(0, s.src.e.cols());  // routing replay: every batch's routing rows so far, labelled with their expert
  std::vector<index_type> seen_expert;
  for (size_type step = 0; step < S; ++step) {
    std::vector<index_type> rows;  // an empty batch still gets its expert (no anchors, random key)
    for (const auto i : batches[static_cast<std::size_t>(step)])
      if (trained.empty() || trained[static_cast<std::size_t>(i)]) rows.push_back(i);
    const question_features<T> q = s.src.select(rows);
    std::vector<index_type> y;
    for (const auto i : rows) y.push_back(s.target[static_cast<std::size_t>(i)]);
    if (o.replay) {
      seen.conservativeResize(seen.rows() + q.e.rows(), seen.cols());
      seen.bottomRows(q.e.rows()) = q.e;
      seen_expert.insert(seen_expert.end(), static_cast<std::size_t>(q.e.rows()), static_cast<index_type>(step));
    }
    if (o.insert_each_step) ad.insert_expert(init(step), as_view(q.e));
    const index_type force = o.forced ? static_cast<index_type>(step) : -1;
    beacon::adamw opt;
    opt.lr = o.lr;
    opt.weight_decay = 0;
    auto loss_fn = [&](matrix_view<const T> out, matrix_view<T> dout) {
      const mat h = q.h0 + as_eigen(out);
      mat dh;
      const double l = host.loss(h, y, dh);
      as_eigen(dout) = dh;
      return l;
    };
    step_report rep;
    rep.trained_edits = static_cast<size_type>(rows.size());
    while (rep.iterations < o.max_iters && !rows.empty()) {
      if constexpr (requires { ad.routing_replay(as_view(seen), seen_expert, 1.0); }) {
        if (o.replay) {  // train_step's parts, with the router's replay loss added before the update
          ad.zero_grad();
          typename Adaptor::forward_state st;
          mat out(q.x.rows(), q.x.cols()), dout(q.x.rows(), q.x.cols());
          ad.forward_train(as_view(q.x), as_view(q.e), as_view(out), st, force);
          rep.final_loss = loss_fn(as_view(std::as_const(out)), as_view(dout));
          ad.backward(st, as_view(std::as_const(dout)));
          ad.routing_replay(as_view(seen), seen_expert, 1.0);
          ad.step(opt);
        } else {
          rep.final_loss = ad.train_step(as_view(q.x), as_view(q.e), loss_fn, opt, force);
        }
      } else {
        if (o.replay) beacon::fail(fn, "options.replay", "a router with routing_replay (kv_anchor_router)", "true");
        rep.final_loss = ad.train_step(as_view(q.x), as_view(q.e), loss_fn, opt, force);
      }
      ++rep.iterations;
      if (o.progress) o.progress(step, S, rep.iterations, rep.final_loss);
      if (rep.final_loss < o.loss_threshold) {
        rep.reached_threshold = true;
        break;
      }
    }
    r.steps.push_back(rep);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Scores of every edit of the stream with the final adaptor.
  auto edited = [&](const question_features<T>& f) {
    mat out(f.x.rows(), f.x.cols());
    ad.forward(as_view(f.x), as_view(f.e), as_view(out));
    return mat(f.h0 + out);
  };
  const auto all = flatten(batches);
  const auto fs = s.src.select(all), fr = s.rephrase.select(all), fl = s.loc.select(all);
  r.scores = score(host, s, all, edited(fs), edited(fr), edited(fl));
  std::vector<mat> step_rows;
  for (const auto& b : batches) step_rows.push_back(s.src.select(b).e);
  std::vector<matrix_view<const T, host_space>> views;
  for (const auto& m : step_rows) views.push_back(as_view(m));
  const auto counts = ad.routing_counts(views);  // route every batch once for both diagnostics
  r.routing = Adaptor::routing_matrix_of(counts);
  r.routing_consistency = Adaptor::routing_consistency_of(counts);
  auto routed = [&](const mat& e) {
    const auto top = ad.route_top1(as_view(e));
    return static_cast<double>(std::count_if(top.begin(), top.end(), [](index_type t) { return t >= 0; })) / static_cast<double>(top.size());
  };
  if (!all.empty()) {
    r.routed_src = routed(fs.e);
    r.routed_loc = routed(fl.e);
  }
  return r;
}

}  // namespace beacon::edit
