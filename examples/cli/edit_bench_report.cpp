// SPDX-License-Identifier: Apache-2.0
// `beacon edit-bench`: the report — the results table on stdout, the JSON and the SVG chart.
#include <cmath>

#include "edit_bench_methods.hpp"
#include "svg.hpp"

namespace beacon::cli::edit_bench {
namespace {

std::pair<double, double> mean_std(const std::vector<double>& v) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  for (double x : v) s += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0};
}

std::string cell(const std::vector<double>& v) {
  char buf[64];
  const auto [m, s] = mean_std(v);
  if (v.size() > 1) std::snprintf(buf, sizeof buf, "%.3f +- %.3f", m, s);
  else std::snprintf(buf, sizeof buf, "%.3f", m);
  return buf;
}

nlohmann::json or_null(bool has, const auto& value) { return has ? nlohmann::json(value) : nlohmann::json(nullptr); }

}  // namespace

void report(const args& a, const std::vector<std::string>& method_order, const std::vector<run_result>& results, const report_context& ctx) {
  std::printf("%-28s %-16s %-15s %-15s %-15s %-15s %-15s %s\n", "method", "order", "Rel", "Gen", "Loc", "Avg", "routing", "s/edit");
  nlohmann::json summary_json = nlohmann::json::array();
  svg_bar_chart chart(ctx.title, {"Rel", "Gen", "Loc", "Avg"});
  for (const auto& m : method_order) {
    std::vector<const run_result*> runs;
    for (const auto& r : results)
      if (r.method == m) runs.push_back(&r);
    if (runs.empty()) continue;
    std::vector<double> rel, gen, loc, avg, rc, sec;
    for (const auto* r : runs) {
      rel.push_back(r->rel), gen.push_back(r->gen), loc.push_back(r->loc), avg.push_back(r->avg), sec.push_back(r->seconds);
      if (r->rc) rc.push_back(*r->rc);
    }
    const std::string order = runs.size() == 1 ? runs[0]->order : std::to_string(runs.size()) + " random";
    std::printf("%-28s %-16s %-15s %-15s %-15s %-15s %-15s %.2e\n", m.c_str(), order.c_str(), cell(rel).c_str(), cell(gen).c_str(), cell(loc).c_str(),
                cell(avg).c_str(), rc.empty() ? "-" : cell(rc).c_str(), mean_std(sec).first);
    chart.add_group(m, {mean_std(rel).first, mean_std(gen).first, mean_std(loc).first, mean_std(avg).first});
    nlohmann::json js = {{"method", m}, {"runs", runs.size()}};
    for (const auto& [k, v] : std::vector<std::pair<const char*, const std::vector<double>*>>{
             {"rel", &rel}, {"gen", &gen}, {"loc", &loc}, {"avg", &avg}, {"routing_consistency", &rc}})
      js[k] = v->empty() ? nlohmann::json(nullptr) : nlohmann::json{{"mean", mean_std(*v).first}, {"std", mean_std(*v).second}};
    summary_json.push_back(js);
  }
  long long capped = 0, total_steps = 0;
  for (const auto& r : results)
    for (auto it : r.iterations) capped += it >= a.max_iters, ++total_steps;
  std::printf("\nsteps stopped by the iteration cap (%lld) instead of the loss threshold (%.3g): %lld of %lld\n", a.max_iters, a.loss_threshold, capped,
              total_steps);

  if (!a.json.empty()) {
    nlohmann::json res = nlohmann::json::array();
    for (const auto& r : results) {
      const bool routed = r.rc.has_value();
      res.push_back({{"method", r.method}, {"order", r.order}, {"rel", r.rel}, {"gen", r.gen}, {"loc", r.loc}, {"avg", r.avg},
                     {"routing_consistency", or_null(routed, r.rc.value_or(0))}, {"seconds", r.seconds}, {"total_seconds", r.total_seconds},
                     {"routed_src", or_null(routed, r.routed_src)}, {"routed_loc", or_null(routed, r.routed_loc)}, {"iterations", r.iterations},
                     {"final_loss", r.final_loss}, {"routing_matrix", or_null(!r.routing_per_stream.empty(), r.routing_per_stream)}});
    }
    nlohmann::json j = {{"config", ctx.config}};
    for (const auto& [k, v] : ctx.header.items()) j[k] = v;
    j["results"] = res;
    j["summary"] = summary_json;
    emit(a.json, json_text(j, 2));
  }
  if (!a.svg.empty()) emit(a.svg, chart.render());
}

}  // namespace beacon::cli::edit_bench
