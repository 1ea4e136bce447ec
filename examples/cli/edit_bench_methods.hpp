// SPDX-License-Identifier: Apache-2.0
#pragma once
// `beacon edit-bench`: the editing methods are the library's (beacon/edit/methods.hpp: ft and the
// adaptor methods, one header each), run on the chosen host with the command's settings.

#include <optional>

#include <beacon/edit/methods.hpp>

#include "edit_bench_common.hpp"

namespace beacon::cli::edit_bench {

/// What the methods edit: the host, its edits (raw and centred routing rows) and the semantic filter.
struct bench {
  const args* a = nullptr;
  bench_host host;
  edit::edit_set<float> raw;       // routing rows: the host's instance embeddings
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

using method = edit::editing_method<bench_host, cpu>;

/// Every method of the benchmark, in the order of the table (the library's registry).
inline const std::vector<method>& methods() {
  static const std::vector<method> all = edit::editing_methods<bench_host, cpu>();
  return all;
}

inline std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const auto& m : methods()) names.push_back(m.name);
  return names;
}

inline const method& method_named(const std::string& name) {
  for (const auto& m : methods())
    if (m.name == name) return m;
  throw value_error("beacon edit-bench: argument '--methods' expected one of the registry's methods, got '" + name + "'");
}

/// Runs method `m` on the bench's host with the command's settings.
inline run_result run_method(const method& m, const bench& B, const edit::batch_list& batches, progress& bar, const std::string& label) {
  edit::method_settings s;
  s.d_model = B.raw.src.x.cols();
  s.expert_hidden = B.a->expert_hidden;
  s.seed = B.a->seed;
  s.lr = B.a->lr;
  s.ft_lr = B.a->ft_lr;
  s.loss_threshold = B.a->loss_threshold;
  s.max_iters = B.a->max_iters;
  s.null_threshold = B.a->null_threshold;
  s.anchor_threshold = B.a->anchor_threshold;
  s.key_threshold = B.a->key_threshold;
  bar.begin(label, static_cast<long long>(batches.size()));
  s.progress = [&](size_type step, size_type, long long it, double loss) { bar.update(step, it, loss); };
  const edit::method_result res = m.run(compute(), B.host, m.centred_routing ? B.centred : B.raw, batches, B.trained, s);
  bar.finish();
  const edit::adaptor_run& e = res.run;
  run_result r;
  r.rel = e.scores.rel, r.gen = e.scores.gen, r.loc = e.scores.loc, r.avg = e.scores.avg;
  if (!e.routing.empty()) r.rc = e.routing_consistency;  // ft has no router
  r.routing = e.routing;
  r.routed_src = e.routed_src;
  r.routed_loc = e.routed_loc;
  r.total_seconds = e.seconds;
  for (const auto& st : e.steps) r.iterations.push_back(st.iterations), r.final_loss.push_back(st.final_loss);
  r.save = res.save;
  r.experts = res.save ? res.experts : 0;
  return r;
}

/// What the report shows besides the runs: the title of the chart, the JSON's config and header.
struct report_context {
  std::string title;
  nlohmann::json config, header;  // header: base accuracy and other top-level fields
};

/// The results table (mean +- sample std over orders) and the iteration-cap summary on stdout, the
/// JSON (--json) and the SVG chart (--svg) (edit_bench_report.cpp).
void report(const args& a, const std::vector<std::string>& method_order, const std::vector<run_result>& results, const report_context& ctx);

}  // namespace beacon::cli::edit_bench
