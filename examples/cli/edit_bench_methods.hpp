// SPDX-License-Identifier: Apache-2.0
#pragma once
// `beacon edit-bench`, part 2: the editing methods, each defined once in the registry `methods()`
// (name, whether it edits in the clustering-planned order, how it runs). The LEMoE variants are thin
// configurations of beacon::edit::edit_with_adaptor (the library's editing loop); fine-tuning edits the
// host's own FFN. Adding a method is one entry.

#include <beacon/edit.hpp>

#include "edit_bench_host.hpp"

namespace beacon::cli::edit_bench {

// ---------------------------------------------------------------- the host as the edit library sees it
/// The bag-of-words host as an edit::host_model: the frozen answer readout W_out over the block
/// output, trained with cross-entropy or (--loss semantic) the semantic re-weighted loss.
struct bow_host {
  using scalar = float;
  const host_model* h = nullptr;
  bool semantic = false;
  [[nodiscard]] double loss(const mat& H, const std::vector<index_type>& y, mat& dH) const {
    return semantic ? semantic_loss(*h, H, y, &dH) : cross_entropy(H, y, *h, dH);
  }
  [[nodiscard]] std::vector<index_type> predict(const mat& H) const { return edit_bench::predict(H, *h); }
};
static_assert(edit::host_model<bow_host>);

// ---------------------------------------------------------------- editing
struct bench {
  const args* a = nullptr;
  bow_host host;
  edit::edit_set<float> raw;       // routing rows: the pooled embeddings (x)
  edit::edit_set<float> centred;   // routing rows: centred by the mean over the edit prompts
  std::vector<char> trained;       // per edit: kept by the semantic filter (all 1 with --loss ce)
};

struct run_result {
  std::string method, order;
  double rel = 0, gen = 0, loc = 0, avg = 0, seconds = 0, total_seconds = 0;
  std::optional<double> rc;
  double routed_src = 1, routed_loc = 1;  // share of src / loc questions routed to some expert (null route: none)
  std::vector<long long> iterations;
  std::vector<double> final_loss;
  std::function<void(const std::string&)> save;  // LEMoE variants: saves the final adaptor (checkpoint)
  long long experts = 0;                          // ... which has this many experts
  std::vector<std::vector<double>> routing;       // adaptor methods: the routing matrix C (step x expert, last column: none)
  std::vector<std::vector<std::vector<double>>> routing_per_stream;  // summed runs: C of every stream
};

inline run_result result_of(const edit::adaptor_run& e) {
  run_result r;
  r.rel = e.scores.rel, r.gen = e.scores.gen, r.loc = e.scores.loc, r.avg = e.scores.avg;
  r.rc = e.routing_consistency;
  r.routing = e.routing;
  r.routed_src = e.routed_src;
  r.routed_loc = e.routed_loc;
  r.total_seconds = e.seconds;
  for (const auto& s : e.steps) r.iterations.push_back(s.iterations), r.final_loss.push_back(s.final_loss);
  return r;
}

/// Runs the library's editing loop with adaptor `ad` (moved into the result, for --save when `keep`).
template <class A>
run_result run_adaptor(A ad, const bench& B, const edit::edit_set<float>& set, const edit::batch_list& batches, edit::adaptor_run_options o,
                       progress& bar, const std::string& label, bool keep) {
  o.lr = B.a->lr;
  o.loss_threshold = B.a->loss_threshold;
  o.max_iters = B.a->max_iters;
  o.seed = B.a->seed;
  o.progress = [&](size_type step, size_type steps, long long it, double loss) { bar.show(label, step, steps, it, loss); };
  run_result r = result_of(edit::edit_with_adaptor(ad, B.host, set, batches, B.trained, o));
  if (keep) {
    auto kept = std::make_shared<A>(std::move(ad));
    r.save = [kept](const std::string& path) { io::save_adaptor(*kept, path); };
    r.experts = kept->experts();
  }
  return r;
}

/// Fine-tuning: a trainable copy of the host FFN (fresh AdamW moments per step), trained on each batch.
inline run_result run_ft(const bench& B, const edit::batch_list& batches, progress& bar, const std::string& label) {
  run_result r;
  const host_model& h = *B.host.h;
  ffn_state f = ffn_t::make<float, cpu>(compute(), {h.d, h.ffn[0].rows()}, "ffn0.");
  for (std::size_t i = 0; i < f.size(); ++i) as_eigen(f[i].value()) = values_of(h.ffn[i]);
  const auto t0 = clock_type::now();
  for (std::size_t s = 0; s < batches.size(); ++s) {
    std::vector<index_type> rows, y;
    for (const auto i : batches[s])
      if (B.trained[static_cast<std::size_t>(i)]) rows.push_back(i), y.push_back(B.raw.target[static_cast<std::size_t>(i)]);
    const mat X = B.raw.src.select(rows).x;
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
      loss = B.host.loss(H, y, dH);
      bar.show(label, static_cast<long long>(s), static_cast<long long>(batches.size()), it, loss);
      if (loss < B.a->loss_threshold) break;
      ffn_backward(f, X, cache, dH);
      adamw_step_all(opt, params_of(f));
    }
    r.iterations.push_back(it);
    r.final_loss.push_back(loss);
  }
  r.total_seconds = seconds_since(t0);
  const auto all = edit::flatten(batches);
  auto edited = [&](const edit::question_features<float>& q) {
    const mat X = q.select(all).x;
    return mat(X + ffn_forward(f, X));
  };
  const auto sc = edit::score(B.host, B.raw, all, edited(B.raw.src), edited(B.raw.rephrase), edited(B.raw.loc));
  r.rel = sc.rel, r.gen = sc.gen, r.loc = sc.loc, r.avg = sc.avg;
  return r;
}

// ---------------------------------------------------------------- the registry
struct method_spec {
  std::string name;
  bool planned = false;  // edits in the clustering-planned order (the "+plan" methods), else R random orders
  std::function<run_result(const bench&, const edit::batch_list&, progress&, const std::string&)> run;
};

inline kv_adaptor::config kv_config(const args& a, const host_model& h, const moe::kv_router_options& o) {
  kv_adaptor::config c;
  c.d_model = h.d;
  c.expert_hidden = a.expert_hidden;
  c.router = o;
  c.seed = a.seed;
  return c;
}

/// spec §12's robust key router: per-expert projections frozen with their expert, cosine scores,
/// renormalised top-1, null route below --null-threshold; keyed on centred embeddings.
inline moe::kv_router_options robust_kv(const args& a) {
  moe::kv_router_options o;
  o.projection = moe::projection_mode::per_expert_frozen;
  o.score = moe::score_function::cosine;
  o.gate = moe::gate_norm::renormalize_top_k;
  o.null_route = true;
  o.null_threshold = a.null_threshold;
  return o;
}

inline run_result run_gate(const bench& B, const edit::batch_list& batches, progress& bar, const std::string& label, bool lifelong) {
  gate_adaptor::config c;
  c.d_model = B.host.h->d;
  c.expert_hidden = B.a->expert_hidden;
  c.router.gate = moe::gate_norm::softmax_all_experts;  // a learned gate (renormalised top-1 would have no gradient)
  c.seed = B.a->seed;
  c.freeze_earlier_experts = lifelong;
  edit::adaptor_run_options o;
  o.insert_each_step = lifelong;
  return run_adaptor(gate_adaptor(compute(), c), B, B.raw, batches, o, bar, label, false);
}

inline run_result run_kv(const bench& B, const edit::batch_list& batches, progress& bar, const std::string& label, bool anchors) {
  edit::adaptor_run_options o;
  o.forced = anchors;
  // Paper-faithful LEMoE routes on the raw pooled embedding; the anchors variant on the centred one (cosine).
  return run_adaptor(kv_adaptor(compute(), kv_config(*B.a, *B.host.h, anchors ? robust_kv(*B.a) : moe::kv_router_options{})), B,
                     anchors ? B.centred : B.raw, batches, o, bar, label, true);
}

inline run_result run_replay(const bench& B, const edit::batch_list& batches, progress& bar, const std::string& label) {
  // spec §12: one key per expert, shared projection, plus a router cross-entropy over every batch's
  // instances so far (labels = their expert); renormalised top-1 gate; the new expert trains on its
  // own batch (forced), the router learns only from the replay.
  moe::kv_router_options k;
  k.gate = moe::gate_norm::renormalize_top_k;
  k.train_route = moe::training_route::forced_to_new;
  edit::adaptor_run_options o;
  o.forced = true;
  o.replay = true;
  return run_adaptor(kv_adaptor(compute(), kv_config(*B.a, *B.host.h, k)), B, B.raw, batches, o, bar, label, true);
}

inline run_result run_instance(const bench& B, const edit::batch_list& batches, progress& bar, const std::string& label) {
  // spec §12's robust router: every edited instance is an anchor of its expert, nearest anchor by
  // centred cosine, null route below the threshold; the new expert trains forced.
  instance_adaptor::config c;
  c.d_model = B.host.h->d;
  c.expert_hidden = B.a->expert_hidden;
  c.router.threshold = B.a->anchor_threshold;
  c.seed = B.a->seed;
  edit::adaptor_run_options o;
  o.forced = true;
  return run_adaptor(instance_adaptor(compute(), c), B, B.raw, batches, o, bar, label, true);
}

/// Every method of the benchmark, in the order of the table.
inline const std::vector<method_spec>& methods() {
  using namespace std::placeholders;
  static const std::vector<method_spec> all = {
      {"ft", false, run_ft},
      {"moe", false, std::bind(run_gate, _1, _2, _3, _4, false)},
      {"lemoe-gate", false, std::bind(run_gate, _1, _2, _3, _4, true)},
      {"lemoe", false, std::bind(run_kv, _1, _2, _3, _4, false)},
      {"lemoe+plan", true, std::bind(run_kv, _1, _2, _3, _4, false)},
      {"lemoe+replay", false, run_replay},
      {"lemoe+anchors", false, std::bind(run_kv, _1, _2, _3, _4, true)},
      {"lemoe+anchors+plan", true, std::bind(run_kv, _1, _2, _3, _4, true)},
      {"lemoe+instance-anchors", false, run_instance},
      {"lemoe+instance-anchors+plan", true, run_instance},
  };
  return all;
}

inline std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const auto& m : methods()) names.push_back(m.name);
  return names;
}

inline const method_spec& method_named(const std::string& name) {
  for (const auto& m : methods())
    if (m.name == name) return m;
  throw value_error("beacon edit-bench: argument '--methods' expected one of the registry's methods, got '" + name + "'");
}

}  // namespace beacon::cli::edit_bench
