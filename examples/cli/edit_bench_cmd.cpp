// SPDX-License-Identifier: Apache-2.0
// `beacon edit-bench`: lifelong model editing end to end. A small frozen knowledge model (token
// embeddings -> masked mean-pool -> one residual FFN block -> output layer over answer strings) is
// pre-trained on the original facts, then edited in S steps by fine-tuning, a conventional MoE
// adaptor, or LEMoE variants, and scored on reliability, generality and locality.
//
// This file: the command (options, data, orders, the results table, JSON and SVG); the host model is
// edit_bench_host.hpp, the editing methods edit_bench_methods.hpp.
#include "edit_bench_methods.hpp"
#include "svg.hpp"

namespace beacon::cli::edit_bench {
namespace {

// ---------------------------------------------------------------- the command
struct summary {
  std::string method;
  std::vector<const run_result*> runs;
};

std::pair<double, double> mean_std(const std::vector<double>& v) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  for (double x : v) s += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0};
}

void run(const args& a) {
  if (a.threads > 0) compute_threads = a.threads;
  const auto t_start = clock_type::now();
  progress bar;
  bar.on = !a.quiet;
  // Data.
  std::vector<record> recs;
  std::size_t skipped = 0;
  const bool embedded = a.data.empty();
  long long T = a.edits > 0 ? a.edits : (embedded ? 300 : 1000);
  if (embedded) {
    recs = synthetic_records(static_cast<std::size_t>(T), a.seed);
  } else {
    auto file = edit::load_zsre(a.data);
    recs = std::move(file.records);
    skipped = file.skipped;
  }
  if (recs.empty()) throw input_error("data file '" + a.data + "' holds no usable record");
  if (T > static_cast<long long>(recs.size())) {
    std::fprintf(stderr, "beacon edit-bench: only %zu usable records; using --edits %zu\n", recs.size(), recs.size());
    T = static_cast<long long>(recs.size());
  }
  recs.resize(static_cast<std::size_t>(T));
  if (a.steps > T) throw value_error("beacon edit-bench: argument '--steps' expected at most --edits (" + std::to_string(T) + "), got " + std::to_string(a.steps));

  // Host model: vocabulary, answers, weights.
  host_model h;
  h.d = a.d;
  token_lists toks;  // [0, T) src, [T, 2T) rephrase, [2T, 3T) loc
  std::vector<int> labels;
  for (const auto& r : recs) toks.push_back(h.encode(r.src)), labels.push_back(h.answer(r.pred));
  for (const auto& r : recs) toks.push_back(h.encode(r.rephrase)), labels.push_back(h.answer(r.pred));
  for (const auto& r : recs) toks.push_back(h.encode(r.loc)), labels.push_back(h.answer(r.loc_ans));
  std::vector<int> alt;
  for (const auto& r : recs) alt.push_back(h.answer(r.alt));
  const auto V = static_cast<size_type>(h.vocab.size()), A = static_cast<size_type>(h.answers.size());
  const cpu one = compute();
  h.emb = hparam(one, "emb", {V, h.d});
  h.wout = hparam(one, "w_out", {A, h.d});
  h.ffn = ffn_t::make<float, cpu>(one, {h.d, a.ffn_hidden}, "ffn0.");
  moe::init_normal(one, h.emb, a.seed, 1, 1.0);
  moe::init_normal(one, h.wout, a.seed, 2, 1.0 / std::sqrt(static_cast<double>(h.d)));
  moe::init_normal(one, h.ffn[0], a.seed, 3, 1.0 / std::sqrt(static_cast<double>(h.d)));
  moe::init_normal(one, h.ffn[2], a.seed, 4, 1.0 / std::sqrt(static_cast<double>(a.ffn_hidden)));
  auto pre = pretrain(h, toks, labels, a, bar);
  for (auto* p : h.params()) p->freeze();

  // Frozen features of the edit prompts, paraphrases and locality questions (edit::edit_set): block
  // input x = the pooled embedding, routing row e = x (or centred), h0 = x + FFN0(x).
  bench B;
  B.a = &a;
  B.host.h = &h;
  std::vector<int> idx(static_cast<std::size_t>(3 * T));
  std::iota(idx.begin(), idx.end(), 0);
  const mat X = pool(h, toks, idx);
  auto features = [&](const mat& x) { return edit::question_features<float>{x, x, x + ffn_forward(h.ffn, x)}; };
  B.raw.src = features(X.topRows(T));
  B.raw.rephrase = features(X.middleRows(T, T));
  B.raw.loc = features(X.bottomRows(T));
  B.raw.target.assign(alt.begin(), alt.end());
  B.raw.loc_answer = predict(B.raw.loc.h0, h);
  B.centred = edit::with_centred_routing(B.raw, Eigen::Matrix<float, 1, Eigen::Dynamic>(B.raw.src.x.colwise().mean()));
  {
    const auto ps = predict(B.raw.src.h0, h), pr = predict(B.raw.rephrase.h0, h);
    double s = 0, r = 0, l = 0;
    for (long long i = 0; i < T; ++i) {
      const auto k = static_cast<std::size_t>(i);
      s += ps[k] == labels[k];
      r += pr[k] == labels[k + static_cast<std::size_t>(T)];
      l += B.raw.loc_answer[k] == labels[k + 2 * static_cast<std::size_t>(T)];
    }
    pre.src = s / static_cast<double>(T);
    pre.rephrase = r / static_cast<double>(T);
    pre.loc = l / static_cast<double>(T);
    pre.accuracy = (s + r + l) / (3.0 * static_cast<double>(T));
  }
  std::printf("host model: V = %lld words, %lld answers, d = %lld, FFN hidden %lld; pre-trained %lld epochs (%.1f s)\n", static_cast<long long>(V),
              static_cast<long long>(A), static_cast<long long>(h.d), a.ffn_hidden, pre.epochs, pre.seconds);
  std::printf("accuracy before editing: %.4f (src -> pred %.4f, rephrase -> pred %.4f, loc -> loc_ans %.4f)\n", pre.accuracy, pre.src,
              pre.rephrase, pre.loc);
  // --loss semantic: the target distance d0 of every edit under the frozen model (spec semantic_peft.md
  // section 3: computed once, before training), and the PERCENTILE filter over it.
  B.host.semantic = a.loss == "semantic";
  B.trained.assign(static_cast<std::size_t>(T), 1);
  nlohmann::json filter_json = nullptr;
  if (B.host.semantic) {
    std::vector<double> d0;
    semantic_loss(h, B.raw.src.h0, alt, nullptr, &d0);
    semantic::filter_options fo;
    fo.criterion = semantic::filter_criterion::percentile;
    fo.fraction = a.filter_fraction;
    const auto kept = semantic::filter_by_distance(d0, fo);
    if (kept.status == semantic::filter_status::all_filtered)
      throw value_error("beacon edit-bench: argument '--filter-fraction' expected a value that keeps some edits, got " + std::to_string(a.filter_fraction) +
                        " (every edit was filtered)");
    std::fill(B.trained.begin(), B.trained.end(), 0);
    for (auto k : kept.kept) B.trained[static_cast<std::size_t>(k)] = 1;
    std::printf("loss: semantic re-weighted CE (linear weights, alpha 1, self-normalised; W_out as the answer embedding); filter: trains on %lld of "
                "%lld edits (drops the %.0f %% with the largest d0; mean d0 %.3f -> %.3f)\n",
                static_cast<long long>(kept.kept.size()), T, 100.0 * a.filter_fraction, kept.mean_before, kept.mean_after);
    filter_json = {{"criterion", "percentile"}, {"fraction", a.filter_fraction}, {"kept", kept.kept.size()}, {"invalid", kept.invalid},
                   {"mean_d0_before", kept.mean_before}, {"var_d0_before", kept.var_before}, {"mean_d0_after", kept.mean_after}, {"var_d0_after", kept.var_after}};
  }
  const long long per_stream = a.chunk > 0 ? std::min(a.chunk, T) : T;
  std::printf("editing: %lld edits%s in %lld steps (batch %lld), %s\n\n", T,
              a.chunk > 0 ? (" in streams of " + std::to_string(per_stream) + " (model reset between streams)").c_str() : "", a.steps,
              (per_stream + a.steps - 1) / a.steps,
              embedded ? "embedded synthetic knowledge base" : a.data.c_str());
  std::fflush(stdout);

  // Streams (--chunk: the rollback protocol; one stream of all T edits by default), and per stream the
  // edit order: R seeded random orders, or the clustering-planned order (the methods ending in +plan).
  const long long N = a.chunk > 0 ? std::min(a.chunk, T) : T;
  if (a.steps > N) throw value_error("beacon edit-bench: argument '--steps' expected at most --chunk (" + std::to_string(N) + "), got " + std::to_string(a.steps));
  const auto streams = edit::split_streams(T, N);
  const size_type batch = (N + a.steps - 1) / a.steps;
  // Per stream the edit order: R seeded random orders, or the clustering-planned order (+plan methods,
  // planned on the centred routing rows).
  auto batches_for = [&](const std::vector<index_type>& stream, long long order, std::size_t stream_no) {
    const auto steps = std::min<size_type>(a.steps, static_cast<size_type>(stream.size()));
    const edit::order_spec spec{order < 0, order < 0 ? a.seed : a.seed + 1000 + static_cast<std::uint64_t>(order) + 100000 * stream_no};
    return edit::order_stream(compute(), stream, steps, spec, B.centred.src.e, B.raw.src.x);
  };

  const std::vector<std::string> methods = a.methods.empty() ? method_names() : a.methods;
  std::vector<run_result> results;
  // --save keeps the final paper-faithful lemoe adaptor, else the last LEMoE variant run.
  std::function<void(const std::string&)> save_saved;
  std::string saved_method;
  long long saved_experts = 0;
  for (const auto& m : methods) {
    const method_spec& spec = method_named(m);
    for (long long o = spec.planned ? -1 : 0; o < (spec.planned ? 0 : a.orders); ++o) {
      const std::string order = o < 0 ? "planned" : "random:" + std::to_string(a.seed + 1000 + static_cast<std::uint64_t>(o));
      run_result total;
      double rc = 0, weight_rc = 0;
      for (std::size_t st = 0; st < streams.size(); ++st) {
        const auto batches = batches_for(streams[st], o, st);
        const std::string label = m + " " + order + (streams.size() > 1 ? " #" + std::to_string(st + 1) : "");
        run_result r = spec.run(B, batches, bar, label);
        if (r.save && !a.save.empty() && !(saved_method == "lemoe" && m != "lemoe")) {
          save_saved = r.save;
          saved_method = m;
          saved_experts = r.experts;
        }
        const double w = static_cast<double>(streams[st].size()) / static_cast<double>(T);  // metrics averaged over streams, by size
        total.rel += w * r.rel, total.gen += w * r.gen, total.loc += w * r.loc, total.avg += w * r.avg;
        total.routed_src = (st == 0 ? 0 : total.routed_src) + w * r.routed_src;
        total.routed_loc = (st == 0 ? 0 : total.routed_loc) + w * r.routed_loc;
        if (r.rc) rc += w * *r.rc, weight_rc += w;
        total.total_seconds += r.total_seconds;
        total.iterations.insert(total.iterations.end(), r.iterations.begin(), r.iterations.end());
        total.final_loss.insert(total.final_loss.end(), r.final_loss.begin(), r.final_loss.end());
        if (!r.routing.empty()) total.routing_per_stream.push_back(std::move(r.routing));
      }
      bar.clear();
      if (weight_rc > 0) total.rc = rc / weight_rc;
      total.method = m;
      total.order = order;
      total.seconds = total.total_seconds / static_cast<double>(T);
      results.push_back(std::move(total));
    }
  }

  // Table (mean +- sample std over orders).
  std::printf("%-28s %-16s %-15s %-15s %-15s %-15s %-15s %s\n", "method", "order", "Rel", "Gen", "Loc", "Avg", "routing", "s/edit");
  std::vector<summary> sums;
  for (const auto& m : methods) {
    summary s{m, {}};
    for (const auto& r : results)
      if (r.method == m) s.runs.push_back(&r);
    sums.push_back(s);
  }
  auto cell = [](const std::vector<double>& v) {
    char buf[64];
    const auto [m, s] = mean_std(v);
    if (v.size() > 1) std::snprintf(buf, sizeof buf, "%.3f +- %.3f", m, s);
    else std::snprintf(buf, sizeof buf, "%.3f", m);
    return std::string(buf);
  };
  nlohmann::json summary_json = nlohmann::json::array();
  std::vector<std::pair<std::string, std::vector<double>>> bars;
  for (const auto& s : sums) {
    std::vector<double> rel, gen, loc, avg, rc, sec;
    for (const auto* r : s.runs) {
      rel.push_back(r->rel), gen.push_back(r->gen), loc.push_back(r->loc), avg.push_back(r->avg), sec.push_back(r->seconds);
      if (r->rc) rc.push_back(*r->rc);
    }
    const std::string order = s.runs.size() == 1 ? s.runs[0]->order : std::to_string(s.runs.size()) + " random";
    std::printf("%-28s %-16s %-15s %-15s %-15s %-15s %-15s %.2e\n", s.method.c_str(), order.c_str(), cell(rel).c_str(), cell(gen).c_str(),
                cell(loc).c_str(), cell(avg).c_str(), rc.empty() ? "-" : cell(rc).c_str(), mean_std(sec).first);
    bars.emplace_back(s.method, std::vector<double>{mean_std(rel).first, mean_std(gen).first, mean_std(loc).first, mean_std(avg).first});
    nlohmann::json js = {{"method", s.method}, {"runs", s.runs.size()}};
    for (const auto& [k, v] : std::vector<std::pair<const char*, const std::vector<double>*>>{{"rel", &rel}, {"gen", &gen}, {"loc", &loc}, {"avg", &avg}, {"routing_consistency", &rc}}) {
      if (v->empty()) js[k] = nullptr;
      else js[k] = {{"mean", mean_std(*v).first}, {"std", mean_std(*v).second}};
    }
    summary_json.push_back(js);
  }
  long long capped = 0, total_steps = 0;
  for (const auto& r : results)
    for (auto it : r.iterations) capped += it >= a.max_iters, ++total_steps;
  std::printf("\nsteps stopped by the iteration cap (%lld) instead of the loss threshold (%.3g): %lld of %lld\n", a.max_iters, a.loss_threshold,
              capped, total_steps);

  if (!a.json.empty()) {
    nlohmann::json res = nlohmann::json::array();
    for (const auto& r : results) {
      res.push_back({{"method", r.method}, {"order", r.order}, {"rel", r.rel}, {"gen", r.gen}, {"loc", r.loc}, {"avg", r.avg},
                     {"routing_consistency", r.rc ? nlohmann::json(*r.rc) : nlohmann::json(nullptr)}, {"seconds", r.seconds},
                     {"total_seconds", r.total_seconds}, {"routed_src", r.rc ? nlohmann::json(r.routed_src) : nlohmann::json(nullptr)},
                     {"routed_loc", r.rc ? nlohmann::json(r.routed_loc) : nlohmann::json(nullptr)}, {"iterations", r.iterations}, {"final_loss", r.final_loss},
                     {"routing_matrix", r.routing_per_stream.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.routing_per_stream)}});
    }
    const nlohmann::json j = {
        {"config",
         {{"data", embedded ? "embedded" : a.data}, {"records_skipped", skipped}, {"edits", T}, {"steps", a.steps}, {"batch", batch}, {"chunk", a.chunk > 0 ? nlohmann::json(N) : nlohmann::json(nullptr)}, {"streams", streams.size()},
          {"methods", methods}, {"orders", a.orders}, {"seed", a.seed}, {"threads", compute_threads}, {"d", a.d}, {"ffn_hidden", a.ffn_hidden}, {"expert_hidden", a.expert_hidden},
          {"vocabulary", V}, {"answers", A}, {"lr", a.lr}, {"ft_lr", a.ft_lr}, {"loss_threshold", a.loss_threshold}, {"max_iters", a.max_iters},
          {"null_threshold", a.null_threshold}, {"anchor_threshold", a.anchor_threshold}, {"loss", a.loss}, {"filter", filter_json},
          {"pretrain_epochs", pre.epochs}, {"pretrain_seconds", pre.seconds}}},
        {"base_accuracy", pre.accuracy},
        {"base_accuracy_detail", {{"src", pre.src}, {"rephrase", pre.rephrase}, {"loc", pre.loc}}},
        {"results", res},
        {"summary", summary_json},
        {"seconds_total", seconds_since(t_start)}};
    emit(a.json, j.dump(2));
  }
  if (!a.svg.empty()) {
    svg_bar_chart chart("beacon edit-bench: " + std::to_string(T) + " edits in " + std::to_string(a.steps) + " steps (" +
                            (embedded ? std::string("embedded") : std::string("ZsRE")) + ")",
                        {"Rel", "Gen", "Loc", "Avg"});
    for (auto& [m, v] : bars) chart.add_group(m, v);
    emit(a.svg, chart.render());
  }
  if (!a.save.empty()) {
    if (!save_saved)
      throw value_error("beacon edit-bench: argument '--save' expected a method with a LEMoE adaptor (lemoe, lemoe+plan, lemoe+replay, lemoe+anchors(+plan) or "
                        "lemoe+instance-anchors(+plan)) in --methods");
    save_saved(a.save);
    std::printf("saved the final %s adaptor (%lld experts) to %s\n", saved_method.c_str(), saved_experts, a.save.c_str());
  }
}

}  // namespace

void add_edit_bench_command(CLI::App& app) {
  auto a = std::make_shared<args>();
  auto* cmd = app.add_subcommand("edit-bench", "Lifelong editing end to end: pre-train a small knowledge model, edit it (ft, moe, LEMoE variants), score Rel/Gen/Loc");
  cmd->add_option("--data", a->data, "ZsRE-format JSON (EasyEdit/MEND records); default: an embedded synthetic knowledge base");
  cmd->add_option("--edits", a->edits, "number of edits T (default 1000 with --data, 300 embedded)")->check(CLI::PositiveNumber);
  cmd->add_option("--steps", a->steps, "editing steps S (batch = T/S)")->check(CLI::PositiveNumber);
  cmd->add_option("--methods", a->methods, "comma list of ft,moe,lemoe-gate,lemoe,lemoe+plan,lemoe+replay,lemoe+anchors,lemoe+anchors+plan,lemoe+instance-anchors,"
                                        "lemoe+instance-anchors+plan (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember(method_names()));
  cmd->add_option("--chunk", a->chunk, "rollback protocol: streams of N edits, the model reset between streams, metrics averaged")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--orders", a->orders, "random edit orders (seeds) per method")->check(CLI::PositiveNumber);
  cmd->add_option("--seed", a->seed, "seed of the data generator, host model, orders and experts");
  cmd->add_option("--threads", a->threads, "CPU threads of the host model and the adaptors (default: all)")->check(CLI::PositiveNumber);
  cmd->add_option("--max-iters", a->max_iters, "training iterations per editing step at most")->check(CLI::PositiveNumber);
  cmd->add_option("--loss-threshold", a->loss_threshold, "stop a step's training when the batch loss is below this")->check(CLI::PositiveNumber);
  cmd->add_option("--lr", a->lr, "AdamW learning rate of the adaptors")->check(CLI::PositiveNumber);
  cmd->add_option("--ft-lr", a->ft_lr, "AdamW learning rate of fine-tuning (ft)")->check(CLI::PositiveNumber);
  cmd->add_option("--null-threshold", a->null_threshold, "lemoe+anchors(+plan): cosine to the expert key below which an instance uses no expert");
  cmd->add_option("--anchor-threshold", a->anchor_threshold,
                  "lemoe+instance-anchors(+plan): cosine to the nearest stored anchor below which an instance uses no expert");
  cmd->add_option("--loss", a->loss, "training loss of every method: ce, or semantic (semantic re-weighted CE, edits filtered by d0)")
      ->check(CLI::IsMember({"ce", "semantic"}));
  cmd->add_option("--filter-fraction", a->filter_fraction, "--loss semantic: share of edits with the largest d0 left out of training (0 keeps all)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--pretrain-epochs", a->pretrain_epochs, "host pre-training epochs at most")->check(CLI::PositiveNumber);
  cmd->add_option("--d", a->d, "host model width d")->check(CLI::PositiveNumber);
  cmd->add_option("--ffn-hidden", a->ffn_hidden, "host FFN hidden width")->check(CLI::PositiveNumber);
  cmd->add_option("--expert-hidden", a->expert_hidden, "adaptor expert hidden width")->check(CLI::PositiveNumber);
  cmd->add_option("--json", a->json, "write the results as JSON to this file ('-' = stdout)");
  cmd->add_option("--svg", a->svg, "write a grouped bar chart (Rel/Gen/Loc/Avg per method) to this file");
  cmd->add_option("--save", a->save, "save the final lemoe adaptor, else the last LEMoE variant run (safetensors; see `beacon inspect`)");
  cmd->add_flag("--quiet", a->quiet, "no progress bar on stderr");
  cmd->callback([a] { run(*a); });
}

}  // namespace beacon::cli::edit_bench
