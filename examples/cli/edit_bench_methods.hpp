// SPDX-License-Identifier: Apache-2.0
#pragma once
// `beacon edit-bench`, part 2: the editing methods (fine-tuning the FFN, the conventional MoE
// adaptor, the LEMoE variants) run over a batch order, and their scores (Rel / Gen / Loc, routing).

#include "edit_bench_host.hpp"

namespace beacon::cli::edit_bench {

// ---------------------------------------------------------------- editing
struct bench {
  const args* a = nullptr;
  host_model* h = nullptr;
  long long T = 0;
  mat Xs, Xr, Xl;        // pooled frozen embeddings of src / rephrase / loc (T x d)
  mat Hs, Hr, Hl;        // x + FFN0(x)
  mat Es, Er, El;        // centred instance embeddings (minus the mean over the edit prompts)
  std::vector<int> alt;  // target answer ids
  std::vector<int> base_loc;
  bool semantic = false;       // --loss semantic
  std::vector<char> trained;   // per edit: kept by the semantic filter (all 1 with --loss ce)
};

/// The edits of `batch` that training sees (the semantic filter may drop some; scoring sees all).
inline std::vector<int> trained_rows(const bench& B, const std::vector<int>& batch) {
  std::vector<int> kept;
  for (int i : batch)
    if (B.trained[static_cast<std::size_t>(i)]) kept.push_back(i);
  return kept;
}

/// Semantic re-weighted cross-entropy (docs/semantic.md; library defaults: linear weights, alpha 1,
/// self-normalised, expected embedding, cosine) of logits = H W_out^T, with W_out (answers x d, frozen)
/// as the answer embedding table. Fills dH (when `grad`) and the per-edit distances.
inline double semantic_loss(const host_model& h, const mat& H, const std::vector<int>& y, mat* dH, std::vector<double>* distance = nullptr) {
  const auto W = values_of(h.wout);
  const mat logits = H * W.transpose();
  const auto n = logits.rows(), answers = logits.cols();
  std::vector<index_type> targets(y.begin(), y.end());
  const mat mask = mat::Ones(n, 1);
  mat grad = dH ? mat(n, answers) : mat(0, answers);
  const auto table = host_matrix(h.wout.value().data(), answers, h.d);
  const auto res = semantic::semantic_cross_entropy(compute(), as_view(logits), host_vector(static_cast<const index_type*>(targets.data()), n),
                                                    as_view(mask), table, semantic::reweight_options{}, as_view(grad));
  if (dH) dH->noalias() = grad * W;
  if (distance) *distance = res.distance;
  return res.combined.loss;
}

/// The training loss of every method: plain mean cross-entropy, or the semantic re-weighted one.
inline double edit_loss(const bench& B, const mat& H, const std::vector<int>& y, mat& dH) {
  return B.semantic ? semantic_loss(*B.h, H, y, &dH) : cross_entropy(H, y, *B.h, dH);
}

struct run_result {
  std::string method, order;
  double rel = 0, gen = 0, loc = 0, avg = 0, seconds = 0, total_seconds = 0;
  std::optional<double> rc;
  double routed_src = 1, routed_loc = 1;  // share of src / loc questions routed to some expert (null route: none)
  std::vector<long long> iterations;
  std::vector<double> final_loss;
};

/// Rel / Gen / Loc over the edits `idx` (rows of Hs, Hr, Hl in that order).
inline void score(const bench& B, const std::vector<int>& idx, const mat& Hs, const mat& Hr, const mat& Hl, run_result& r) {
  const auto ps = predict(Hs, *B.h), pr = predict(Hr, *B.h), pl = predict(Hl, *B.h);
  double rel = 0, gen = 0, loc = 0;
  for (std::size_t q = 0; q < idx.size(); ++q) {
    const auto k = static_cast<std::size_t>(idx[q]);
    rel += ps[q] == B.alt[k];
    gen += pr[q] == B.alt[k];
    loc += pl[q] == B.base_loc[k];
  }
  const auto n = static_cast<double>(idx.size());
  r.rel = rel / n;
  r.gen = gen / n;
  r.loc = loc / n;
  r.avg = (r.rel + r.gen + r.loc) / 3;
}

inline std::vector<int> flatten(const std::vector<std::vector<int>>& batches) {
  std::vector<int> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

inline std::vector<int> targets(const bench& B, const std::vector<int>& idx) {
  std::vector<int> y;
  for (int i : idx) y.push_back(B.alt[static_cast<std::size_t>(i)]);
  return y;
}

inline run_result run_ft(const bench& B, const std::vector<std::vector<int>>& batches, progress& bar, const std::string& label) {
  run_result r;
  // A trainable copy of the frozen host FFN (fresh AdamW moments).
  ffn_state f = ffn_t::make<float, cpu>(compute(), {B.h->d, B.h->ffn[0].rows()}, "ffn0.");
  for (std::size_t i = 0; i < f.size(); ++i) as_eigen(f[i].value()) = values_of(B.h->ffn[i]);
  const auto t0 = clock_type::now();
  for (std::size_t s = 0; s < batches.size(); ++s) {
    const auto rows = trained_rows(B, batches[s]);
    const mat X = rows_of(B.Xs, rows);
    const auto y = targets(B, rows);
    beacon::adamw opt;
    opt.lr = B.a->ft_lr;
    opt.weight_decay = 0;
    long long it = 0;
    double loss = 0;
    for (; it < B.a->max_iters && !rows.empty(); ++it) {
      zero_grads(params_of(f));
      mat cache;
      const mat H = X + ffn_forward(f, X, &cache);
      mat dH;
      loss = edit_loss(B, H, y, dH);
      bar.show(label, static_cast<long long>(s), static_cast<long long>(batches.size()), it, loss);
      if (loss < B.a->loss_threshold) break;
      ffn_backward(f, X, cache, dH);
      adamw_step_all(opt, params_of(f));
    }
    r.iterations.push_back(it);
    r.final_loss.push_back(loss);
  }
  r.total_seconds = seconds_since(t0);
  const auto all = flatten(batches);
  const mat Xs = rows_of(B.Xs, all), Xr = rows_of(B.Xr, all), Xl = rows_of(B.Xl, all);
  score(B, all, Xs + ffn_forward(f, Xs), Xr + ffn_forward(f, Xr), Xl + ffn_forward(f, Xl), r);
  return r;
}

/// Trains an adaptor over the batches. `insert_each_step`: LEMoE insertion (one new expert per step,
/// earlier ones frozen by the adaptor's config); otherwise every expert exists from the start.
/// `forced`: the new expert is trained with forced routing. Routing rows: E* (kv) or X* (token gate).
template <class A>
run_result run_adaptor(A& ad, const bench& B, const std::vector<std::vector<int>>& batches, bool insert_each_step, bool forced,
                       const mat& Es, const mat& Er, const mat& El, progress& bar, const std::string& label, bool replay = false) {
  run_result r;
  const auto S = batches.size();
  const double scale = 1.0 / std::sqrt(static_cast<double>(B.h->d));
  if (!insert_each_step)
    for (std::size_t s = 0; s < S; ++s) ad.insert_expert(moe::expert_init<float>::random_normal(B.a->seed * 131 + s, scale));
  const auto t0 = clock_type::now();
  mat seen(0, Es.cols());  // routing replay: every batch's routing rows so far, labelled with their expert
  std::vector<index_type> seen_expert;
  for (std::size_t s = 0; s < S; ++s) {
    const auto rows = trained_rows(B, batches[s]);  // an empty batch still gets its expert (no anchors, random key)
    const mat X = rows_of(B.Xs, rows), E = rows_of(Es, rows), H0 = rows_of(B.Hs, rows);
    if (replay) {
      seen.conservativeResize(seen.rows() + E.rows(), Es.cols());
      seen.bottomRows(E.rows()) = E;
      seen_expert.insert(seen_expert.end(), static_cast<std::size_t>(E.rows()), static_cast<index_type>(s));
    }
    const auto y = targets(B, rows);
    if (insert_each_step) ad.insert_expert(moe::expert_init<float>::random_normal(B.a->seed * 131 + s, scale), as_view(E));
    const size_type force = forced ? static_cast<size_type>(s) : -1;
    beacon::adamw opt;
    opt.lr = B.a->lr;
    opt.weight_decay = 0;
    auto loss_fn = [&](matrix_view<const float> out, matrix_view<float> dout) {
      const mat H = H0 + as_eigen(out);
      mat dH;
      const double l = edit_loss(B, H, y, dH);
      as_eigen(dout) = dH;
      return l;
    };
    long long it = 0;
    double loss = 0;
    for (; it < B.a->max_iters && !rows.empty();) {
      if constexpr (requires { ad.routing_replay(as_view(seen), seen_expert, 1.0); }) {
        if (replay) {  // train_step's parts, with the router's replay loss added before the update
          ad.zero_grad();
          typename A::forward_state st;
          mat out(X.rows(), X.cols()), dout(X.rows(), X.cols());
          ad.forward_train(as_view(X), as_view(E), as_view(out), st, force);
          loss = loss_fn(as_view(std::as_const(out)), as_view(dout));
          ad.backward(st, as_view(std::as_const(dout)));
          ad.routing_replay(as_view(seen), seen_expert, 1.0);
          ad.step(opt);
        } else {
          loss = ad.train_step(as_view(X), as_view(E), loss_fn, opt, force);
        }
      } else {
        loss = ad.train_step(as_view(X), as_view(E), loss_fn, opt, force);
      }
      ++it;
      bar.show(label, static_cast<long long>(s), static_cast<long long>(S), it, loss);
      if (loss < B.a->loss_threshold) break;
    }
    r.iterations.push_back(it);
    r.final_loss.push_back(loss);
  }
  r.total_seconds = seconds_since(t0);
  auto edited = [&](const mat& X, const mat& E, const mat& H0) {
    mat out(X.rows(), X.cols());
    ad.forward(as_view(X), as_view(E), as_view(out));
    return mat(H0 + out);
  };
  const auto all = flatten(batches);
  score(B, all, edited(rows_of(B.Xs, all), rows_of(Es, all), rows_of(B.Hs, all)), edited(rows_of(B.Xr, all), rows_of(Er, all), rows_of(B.Hr, all)),
        edited(rows_of(B.Xl, all), rows_of(El, all), rows_of(B.Hl, all)), r);
  std::vector<mat> rows;
  for (const auto& b : batches) rows.push_back(rows_of(Es, b));
  std::vector<matrix_view<const float, host_space>> views;
  for (const auto& m : rows) views.push_back(as_view(m));
  r.rc = ad.routing_consistency(views);
  auto routed = [&](const mat& E) {
    const auto top = ad.route_top1(as_view(E));
    return static_cast<double>(std::count_if(top.begin(), top.end(), [](index_type t) { return t >= 0; })) / static_cast<double>(top.size());
  };
  r.routed_src = routed(rows_of(Es, all));
  r.routed_loc = routed(rows_of(El, all));
  return r;
}

}  // namespace beacon::cli::edit_bench
