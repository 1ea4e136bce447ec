// SPDX-License-Identifier: Apache-2.0
#pragma once
// `beacon edit-bench`, part 2: the editing methods, listed once in `methods()`: fine-tuning (it edits
// the host's own FFN, so it lives here) and the library's adaptor methods (beacon/edit/methods/, one
// header each, run by beacon::edit::edit_with_adaptor).

#include <beacon/edit.hpp>
#include <beacon/edit/methods.hpp>

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

/// Runs library method `m` on the bench's host with the command's settings.
inline run_result run_library_method(const edit::adaptor_method<bow_host, cpu>& m, const bench& B, const edit::batch_list& batches, progress& bar,
                                     const std::string& label) {
  edit::method_settings s;
  s.d_model = B.host.h->d;
  s.expert_hidden = B.a->expert_hidden;
  s.seed = B.a->seed;
  s.lr = B.a->lr;
  s.loss_threshold = B.a->loss_threshold;
  s.max_iters = B.a->max_iters;
  s.null_threshold = B.a->null_threshold;
  s.anchor_threshold = B.a->anchor_threshold;
  s.progress = [&](size_type step, size_type steps, long long it, double loss) { bar.show(label, step, steps, it, loss); };
  const edit::method_result r = m.run(compute(), B.host, m.centred_routing ? B.centred : B.raw, batches, B.trained, s);
  run_result out = result_of(r.run);
  out.save = r.save;
  out.experts = r.save ? r.experts : 0;
  return out;
}

/// Every method of the benchmark, in the order of the table: fine-tuning, then the library's adaptor
/// methods (beacon/edit/methods.hpp) on the bag-of-words host.
inline std::vector<method_spec> make_methods() {
  std::vector<method_spec> v = {{"ft", false, run_ft}};
  for (const auto& m : edit::adaptor_methods<bow_host, cpu>())
    v.push_back({m.name, m.planned, std::bind_front(run_library_method, m)});
  return v;
}

inline const std::vector<method_spec>& methods() {
  static const std::vector<method_spec> all = make_methods();
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
