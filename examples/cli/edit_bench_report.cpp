// SPDX-License-Identifier: Apache-2.0
// `beacon edit-bench`: the report — the results table on stdout, the JSON and the SVG chart.
#include <cmath>

#include "edit_bench_methods.hpp"
#include "svg.hpp"
#include "table.hpp"

namespace beacon::cli::edit_bench {
namespace {

std::pair<double, double> mean_std(const std::vector<double>& v) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  for (double x : v) s += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0};
}

/// "0.912", or "0.912±.004" (mean ± sample std over runs; the std without its leading zero keeps
/// the table within 100 columns).
std::string cell(const std::vector<double>& v) {
  if (v.empty()) return "-";
  char buf[64];
  const auto [m, s] = mean_std(v);
  if (v.size() > 1) {
    std::snprintf(buf, sizeof buf, "%.3f", s);
    const std::string sd = buf;
    std::snprintf(buf, sizeof buf, "%.3f\u00b1%s", m, sd.rfind("0.", 0) == 0 ? sd.c_str() + 1 : sd.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%.3f", m);
  }
  return buf;
}

/// Per editing step, the mean training iterations over `runs`, binned to at most `bins` columns.
std::vector<double> mean_iterations(const std::vector<const run_result*>& runs, std::size_t bins) {
  std::size_t n = 0;
  for (const auto* r : runs) n = std::max(n, r->iterations.size());
  std::vector<double> sum(n, 0.0), count(n, 0.0);
  for (const auto* r : runs)
    for (std::size_t i = 0; i < r->iterations.size(); ++i) sum[i] += static_cast<double>(r->iterations[i]), count[i] += 1;
  const std::size_t width = std::max<std::size_t>(1, (n + bins - 1) / std::max<std::size_t>(1, bins));
  std::vector<double> out;
  for (std::size_t first = 0; first < n; first += width) {
    double s = 0, c = 0;
    for (std::size_t i = first; i < std::min(n, first + width); ++i) s += sum[i], c += count[i];
    out.push_back(c > 0 ? s / c : 0.0);
  }
  return out;
}

/// The picture: scores with error bars, the training budget of every step, and the routing matrix
/// of every routed method (experts x edit batches, as LEMoE's Figure 2).
std::string figure(const args& a, const std::vector<std::string>& method_order, const std::vector<run_result>& results, const std::string& title) {
  svg_bar_chart scores(title, {"Rel", "Gen", "Loc", "Avg"});
  struct routed {
    std::string method;
    std::vector<std::vector<double>> matrix;
    double rc;
  };
  std::vector<std::pair<std::string, std::vector<double>>> budget;
  std::vector<routed> routing;
  for (const auto& m : method_order) {
    std::vector<const run_result*> runs;
    for (const auto& r : results)
      if (r.method == m) runs.push_back(&r);
    if (runs.empty()) continue;
    std::vector<double> rel, gen, loc, avg;
    for (const auto* r : runs) rel.push_back(r->rel), gen.push_back(r->gen), loc.push_back(r->loc), avg.push_back(r->avg);
    const auto [r0, r1] = mean_std(rel);
    const auto [g0, g1] = mean_std(gen);
    const auto [l0, l1] = mean_std(loc);
    const auto [a0, a1] = mean_std(avg);
    scores.add_group(m, {r0, g0, l0, a0}, {r1, g1, l1, a1});
    budget.emplace_back(m, mean_iterations(runs, 40));
    if (!runs[0]->routing_per_stream.empty() && runs[0]->rc) routing.push_back({m, runs[0]->routing_per_stream[0], *runs[0]->rc});
  }
  // Layout, top to bottom: scores, budget, routing matrices; the canvas is as wide as the widest.
  double name_w = 0;
  for (const auto& [m, it] : budget) name_w = std::max(name_w, text_width(m, 11));
  std::size_t budget_cols = 0;
  for (const auto& [m, it] : budget) budget_cols = std::max(budget_cols, it.size());
  const double budget_cell = std::clamp(480.0 / static_cast<double>(std::max<std::size_t>(1, budget_cols)), 8.0, 36.0);
  std::vector<svg_heatmap> maps;
  for (const auto& r : routing) {
    svg_heatmap h;
    h.title = r.method + fmt(" (RC %.2f)", r.rc);
    h.row_name = "batch";
    h.col_name = "expert, last: none";
    h.values = r.matrix;
    h.cell = std::clamp(120.0 / static_cast<double>(std::max(h.rows(), h.cols())), 4.0, 24.0);
    maps.push_back(std::move(h));
  }
  double map_w = 0, map_h = 0;
  for (const auto& h : maps) map_w = std::max(map_w, h.width() + 16), map_h = std::max(map_h, h.height() + 12);
  const double budget_w = 20 + name_w + 10 + budget_cell * static_cast<double>(budget_cols) + 20;
  const std::string budget_title = fmt("training iterations per editing step (shade: share of the cap of %lld; numbers: mean over runs)", a.max_iters);
  const double width = std::max({scores.natural_width(), budget_w, text_width(budget_title, 14) + 40, 3 * map_w + 40, text_width(title, 14) + 70});
  const std::size_t per_row = maps.empty() ? 1 : std::max<std::size_t>(1, static_cast<std::size_t>((width - 40) / map_w));
  const double scores_h = 260, scores_top = 50, budget_top = scores_top + scores_h + scores.label_depth() + 50;
  const double budget_h = 14.0 * static_cast<double>(budget.size());
  const double routing_top = budget_top + budget_h + 70;
  const double map_rows = static_cast<double>((maps.size() + per_row - 1) / per_row);
  svg_canvas c(width, (maps.empty() ? budget_top + budget_h + 30 : routing_top + 10 + map_rows * map_h) + 10);
  scores.draw(c, 10, scores_top, scores_h);

  c.text(20, budget_top - 24, budget_title, 14);
  const double gx = 20 + name_w + 10;
  for (std::size_t i = 0; i < budget.size(); ++i) {
    const double y = budget_top + 14.0 * static_cast<double>(i);
    c.text(gx - 6, y + 10, budget[i].first, 11, "end");
    for (std::size_t k = 0; k < budget[i].second.size(); ++k) {
      const double it = budget[i].second[k];
      c.rect(gx + budget_cell * static_cast<double>(k), y, budget_cell, 14, shade(it / static_cast<double>(a.max_iters)),
             budget[i].first + fmt(" step %zu: %.1f iterations", k + 1, it), "#ffffff");
      if (budget_cell >= 24)
        c.text(gx + budget_cell * (static_cast<double>(k) + 0.5), y + 10.5, fmt("%.0f", it), 9, "middle", 0,
               it / static_cast<double>(a.max_iters) > 0.5 ? " fill='white'" : "");
    }
  }
  c.text(gx, budget_top + budget_h + 12, "editing step ->", 9);
  if (!maps.empty()) {
    c.text(20, routing_top - 24, "routing: share of each batch's edits per expert (diagonal = routing consistent; first run)", 14);
    for (std::size_t i = 0; i < maps.size(); ++i)
      maps[i].draw(c, 20 + map_w * static_cast<double>(i % per_row), routing_top + map_h * static_cast<double>(i / per_row));
  }
  return c.render();
}

nlohmann::json or_null(bool has, const auto& value) { return has ? nlohmann::json(value) : nlohmann::json(nullptr); }

}  // namespace

void report(const args& a, const std::vector<std::string>& method_order, const std::vector<run_result>& results, const report_context& ctx) {
  text_table table({"method", "order", "Rel", "Gen", "Loc", "Avg", "routing", "s/edit"});
  nlohmann::json summary_json = nlohmann::json::array();
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
    table.add_row({m, order, cell(rel), cell(gen), cell(loc), cell(avg), cell(rc), fmt("%.1e", mean_std(sec).first)});
    nlohmann::json js = {{"method", m}, {"runs", runs.size()}};
    for (const auto& [k, v] : std::vector<std::pair<const char*, const std::vector<double>*>>{
             {"rel", &rel}, {"gen", &gen}, {"loc", &loc}, {"avg", &avg}, {"routing_consistency", &rc}})
      js[k] = v->empty() ? nlohmann::json(nullptr) : nlohmann::json{{"mean", mean_std(*v).first}, {"std", mean_std(*v).second}};
    summary_json.push_back(js);
  }
  std::fputs(table.render().c_str(), stdout);
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
  if (!a.svg.empty()) emit(a.svg, figure(a, method_order, results, ctx.title));
}

}  // namespace beacon::cli::edit_bench
