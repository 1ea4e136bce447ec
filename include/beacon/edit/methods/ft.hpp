// SPDX-License-Identifier: Apache-2.0
#pragma once
// "ft": fine-tuning the host's own FFN block (the LEMoE paper's FT-L baseline) — no adaptor; per
// editing step a trainable copy of the block's weights (fresh AdamW moments) is trained on the step's
// edits, and the changes accumulate over steps. Only hosts that expose their block (`block_host`)
// get this method.
//
// The edited block output is h = h0 - FFN0(x) + FFN(x): the frozen output with the block's
// contribution replaced, which is right for any residual placement of the block (h0 = r + FFN0(x)
// with x = r or x = LayerNorm(r)).

#include <chrono>
#include <concepts>
#include <limits>
#include <utility>

#include "../../core/adamw.hpp"
#include "../../moe/expert_common.hpp"
#include "../../moe/expert_init.hpp"
#include "../method.hpp"

namespace beacon::edit {

/// A host whose edited FFN block is an expert-shaped module on backend B: `block_expert` names its
/// type (e.g. moe::mlp_expert<activation::relu>), `block()` its frozen weights and `block_shape()`
/// its width (d_model, hidden).
template <class H, class B>
concept block_host = host_model<H> && requires(const H& host) {
  typename H::block_expert;
  { host.block() } -> std::convertible_to<const moe::expert_parameters<typename H::scalar, B>&>;
  { host.block_shape() } -> std::convertible_to<moe::expert_shape>;
};

/// Fine-tunes a copy of the host's block on the edits in the order of `batches` (a fresh AdamW per
/// step, `o.lr`, weight decay 0, until the batch loss is below `o.loss_threshold` or `o.max_iters`),
/// then scores every edit with the tuned block. The run has no routing (`routing` empty).
template <class B, class H>
  requires block_host<H, B>
adaptor_run fine_tune_block(const B& be, const H& host, const edit_set<typename H::scalar>& s, const batch_list& batches,
                            const std::vector<char>& trained, const adaptor_run_options& o) {
  using T = typename H::scalar;
  using E = typename H::block_expert;
  using mat = row_matrix<T>;
  const char* fn = "edit::fine_tune_block";
  s.validate(fn);
  if (!trained.empty()) beacon::require_extent(fn, "trained", "size (edits)", static_cast<size_type>(trained.size()), s.edits());
  if (!(o.loss_threshold >= 0)) beacon::fail(fn, "options.loss_threshold", ">= 0", o.loss_threshold);
  if (o.max_iters < 0) beacon::fail(fn, "options.max_iters", ">= 0", o.max_iters);
  const moe::expert_parameters<T, B>& frozen = host.block();
  const moe::expert_shape shape = host.block_shape();
  moe::expert_parameters<T, B> tuned = E::template make<T, B>(be, shape, "block.");
  if (tuned.size() != frozen.size()) beacon::fail(fn, "host.block()", beacon::concat(tuned.size(), " tensors (block_shape)"), frozen.size());
  for (std::size_t i = 0; i < tuned.size(); ++i) {
    beacon::require_extent(fn, "host.block() tensor", "size (block_shape)", frozen[i].size(), tuned[i].size());
    copy(be, frozen[i].value_vector(), tuned[i].value_vector());
  }
  // y = block(x) with the given weights (cache: what the backward needs).
  auto block = [&](const moe::expert_parameters<T, B>& w, const mat& x, mat& cache) {
    mat y(x.rows(), x.cols());
    cache.resize(E::cached * x.rows(), E::width(shape));
    E::template forward<T, B>(be, {&w}, {0, static_cast<index_type>(x.rows())}, as_view(x), as_view(cache), as_view(y));
    return y;
  };
  // h0 with the frozen block's contribution removed: h = base + block(tuned, x).
  auto base_of = [&](const question_features<T>& q) {
    mat cache;
    return mat(q.h0 - block(frozen, q.x, cache));
  };

  adaptor_run r;
  const auto t0 = std::chrono::steady_clock::now();
  const auto S = static_cast<size_type>(batches.size());
  for (size_type step = 0; step < S; ++step) {
    std::vector<index_type> rows, y;
    for (const auto i : batches[static_cast<std::size_t>(step)])
      if (trained.empty() || trained[static_cast<std::size_t>(i)]) rows.push_back(i), y.push_back(s.target[static_cast<std::size_t>(i)]);
    const question_features<T> q = s.src.select(rows);
    const mat base = base_of(q);
    beacon::adamw opt;
    opt.lr = o.lr;
    opt.weight_decay = 0;
    step_report rep;
    rep.trained_edits = static_cast<size_type>(rows.size());
    while (rep.iterations < o.max_iters && !rows.empty()) {
      for (auto& p : tuned) p.zero_grad(be);
      mat cache, dh;
      const mat h = base + block(tuned, q.x, cache);
      rep.final_loss = host.loss(h, y, dh);
      if (rep.final_loss < o.loss_threshold) {  // iterations count the updates made
        rep.reached_threshold = true;
        break;
      }
      E::template backward<T, B>(be, {&tuned}, {0, static_cast<index_type>(rows.size())}, as_view(q.x), as_view(cache), as_view(std::as_const(dh)));
      opt.next_step();
      const auto c = opt.coefficients();
      for (auto& p : tuned) p.adamw_update(be, c);
      ++rep.iterations;
      if (o.progress) o.progress(step, S, rep.iterations, rep.final_loss);
    }
    r.steps.push_back(rep);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const auto all = flatten(batches);
  auto edited = [&](const question_features<T>& f) {
    const auto q = f.select(all);
    mat cache;
    return mat(base_of(q) + block(tuned, q.x, cache));
  };
  r.scores = score(host, s, all, edited(s.src), edited(s.rephrase), edited(s.loc));
  r.routing_consistency = std::numeric_limits<double>::quiet_NaN();
  return r;
}

namespace methods {

/// "ft": fine-tuning of the host's block; options.lr is method_settings::ft_lr.
template <class H, class B>
  requires block_host<H, B>
editing_method<H, B> ft() {
  return {"ft", false, false,
          [](const B& be, const H& host, const edit_set<float>& set, const batch_list& batches, const std::vector<char>& trained, const method_settings& s) {
            adaptor_run_options o;
            o.lr = s.ft_lr;
            o.loss_threshold = s.loss_threshold;
            o.max_iters = s.max_iters;
            o.progress = s.progress;
            method_result r;
            r.run = fine_tune_block(be, host, set, batches, trained, o);
            return r;
          }};
}

}  // namespace methods
}  // namespace beacon::edit
