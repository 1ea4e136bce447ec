// SPDX-License-Identifier: Apache-2.0
// `beacon edit-bench`: lifelong model editing end to end. A small frozen knowledge model (--host bow:
// token embeddings -> mean-pool -> one residual FFN block; --host transformer: a 2-layer Transformer
// encoder) is pre-trained on the original facts, then edited in S steps by fine-tuning, a
// conventional MoE adaptor, or LEMoE variants, and scored on reliability, generality and locality.
//
// This file: the options, the data, the orders and the runs. The hosts are edit_bench_bow.cpp and
// edit_bench_transformer.cpp, the methods the library's (edit_bench_methods.hpp), the report
// edit_bench_report.cpp, the embedded data edit_bench_data.cpp.
#include <beacon/core/host_memory.hpp>

#include <unistd.h>

#include "edit_bench_hosts.hpp"
#include "edit_bench_methods.hpp"

namespace beacon::cli::edit_bench {
namespace {

/// Words in one question (src, rephrase, loc) of a data file at most.
constexpr std::size_t max_question_words = 512;

/// The records to edit: --edits of the data file, or of the embedded synthetic knowledge base.
std::vector<record> read_records(const args& a, std::size_t& skipped) {
  if (a.data.empty()) {
    const long long T = a.edits > 0 ? a.edits : 300;
    if (T > static_cast<long long>(synthetic_capacity()))
      throw value_error("beacon edit-bench: argument '--edits' expected at most " + std::to_string(synthetic_capacity()) +
                        " (the embedded knowledge base; use --data for more), got " + std::to_string(T));
    return synthetic_records(static_cast<std::size_t>(T), a.seed);
  }
  auto file = edit::load_zsre(a.data);
  skipped = file.skipped;
  if (file.records.empty()) throw input_error("data file '" + a.data + "' holds no usable record");
  if (a.edits > static_cast<long long>(file.records.size()))
    throw input_error("beacon edit-bench: argument '--edits' expected at most the " + std::to_string(file.records.size()) + " usable records of '" +
                      a.data + "', got " + std::to_string(a.edits));
  const auto T = std::min<std::size_t>(a.edits > 0 ? static_cast<std::size_t>(a.edits) : 1000, file.records.size());
  file.records.resize(T);
  // The hosts hold a question as a row of word embeddings (the transformer attends over all pairs):
  // a question is bounded, so one record cannot make a batch's tensors explode.
  for (std::size_t i = 0; i < T; ++i) {
    const auto& r = file.records[i];
    for (const auto& [field, text] : {std::pair{"src", &r.src}, std::pair{"rephrase", &r.rephrase}, std::pair{"loc", &r.loc}}) {
      const auto words = tokenize(*text).size();
      if (words > max_question_words)
        throw input_error(beacon::concat("beacon edit-bench: '", a.data, "': record ", i, " field '", field, "' has ", words, " words, expected at most ",
                                         max_question_words));
    }
  }
  return std::move(file.records);
}

/// Refuses sizes that cannot fit before allocating them: S experts of 2 d h + d + h floats, each
/// with its gradient and two AdamW moments, and the host's rows (3 T questions of d floats, a few copies).
void check_memory(const args& a, long long T) {
  const double d = static_cast<double>(a.d), h = static_cast<double>(a.expert_hidden), S = static_cast<double>(a.steps);
  const double bytes = 4.0 * 4.0 * S * (2 * d * h + d + h) + 16.0 * 4.0 * 3.0 * static_cast<double>(T) * d;
  const double limit = static_cast<double>(physical_memory_bytes()) / 2;
  if (bytes > limit)
    throw value_error(beacon::concat("beacon edit-bench: arguments '--steps', '--host-dim', '--expert-hidden' and '--edits' expected sizes that fit in half of "
                                     "this machine's memory (", static_cast<long long>(limit / 1e6), " MB), got ", a.steps, " steps x d ", a.d,
                                     " x expert hidden ", a.expert_hidden, " over ", T, " edits: about ", static_cast<long long>(bytes / 1e6), " MB"));
}

/// An output the run will write at its end must have a folder we can write to: say so now, not
/// after minutes of editing.
void check_output_folder(const std::string& path, const char* option) {
  if (path.empty() || path == "-") return;
  const auto slash = path.find_last_of('/');
  const std::string folder = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (::access(folder.c_str(), W_OK) != 0)
    throw io_error(beacon::concat("beacon edit-bench: argument '", option, "': cannot write into folder '", folder, "': ", std::strerror(errno)));
}

void run(const args& a) {
  check_output_folder(a.json, "--json");
  check_output_folder(a.svg, "--svg");
  check_output_folder(a.save, "--save");
  if (a.threads > 0) compute_threads = a.threads;
  const auto t_start = clock_type::now();
  progress bar(!a.quiet);
  std::size_t skipped = 0;
  const bool embedded = a.data.empty();
  const std::vector<record> recs = read_records(a, skipped);
  const auto T = static_cast<long long>(recs.size());
  if (a.steps > T) throw value_error("beacon edit-bench: argument '--steps' expected at most --edits (" + std::to_string(T) + "), got " + std::to_string(a.steps));
  check_memory(a, T);

  // The host, pre-trained and frozen, and the features of every question (edit::edit_set).
  prepared_host p = a.host == "transformer" ? prepare_transformer_host(recs, a, bar) : prepare_bow_host(recs, a, bar);
  bench B;
  B.a = &a;
  B.host = p.host;
  B.raw = p.raw;
  B.centred = edit::with_centred_routing(B.raw, Eigen::Matrix<float, 1, Eigen::Dynamic>(B.raw.src.e.colwise().mean()));
  const auto& pre = p.pre;
  std::printf("%s\npre-trained %lld epochs (%.1f s)\n", p.description.c_str(), pre.epochs, pre.seconds);
  std::printf("accuracy before editing: %.4f (src -> pred %.4f, rephrase -> pred %.4f, loc -> loc_ans %.4f)\n", pre.accuracy, pre.src,
              pre.rephrase, pre.loc);
  // --loss semantic: the target distance d0 of every edit under the frozen model (spec semantic_peft.md
  // section 3: computed once, before training), and the PERCENTILE filter over it.
  B.host.semantic = a.loss == "semantic";
  B.trained.assign(static_cast<std::size_t>(T), 1);
  nlohmann::json filter_json = nullptr;
  if (B.host.semantic) {
    const std::vector<double> d0 = B.host.distances(B.raw.src.h0, B.raw.target);
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

  // Streams (--chunk: the rollback protocol; one stream of all T edits by default), and per stream the
  // edit order: R seeded random orders, or the clustering-planned order (the +plan methods, planned on
  // the centred routing rows).
  const long long N = a.chunk > 0 ? std::min(a.chunk, T) : T;
  if (a.steps > N) throw value_error("beacon edit-bench: argument '--steps' expected at most --chunk (" + std::to_string(N) + "), got " + std::to_string(a.steps));
  const auto streams = edit::split_streams(T, N);
  const size_type batch = (N + a.steps - 1) / a.steps;
  std::printf("editing: %lld edits%s in %lld steps (batch %lld), %s\n\n", T,
              a.chunk > 0 ? (" in streams of " + std::to_string(N) + " (model reset between streams)").c_str() : "", a.steps, batch,
              embedded ? "embedded synthetic knowledge base" : a.data.c_str());
  std::fflush(stdout);
  auto batches_for = [&](const method& m, const std::vector<index_type>& stream, long long order, std::size_t stream_no) {
    const auto steps = std::min<size_type>(a.steps, static_cast<size_type>(stream.size()));
    const edit::order_spec spec{order < 0, order < 0 ? a.seed : a.seed + 1000 + static_cast<std::uint64_t>(order) + 100000 * stream_no, m.whole_clusters};
    return edit::order_stream(compute(), stream, steps, spec, B.centred.src.e, B.raw.src.x);
  };

  const std::vector<std::string> names = a.methods.empty() ? method_names() : a.methods;
  std::vector<run_result> results;
  // --save keeps the final paper-faithful lemoe adaptor, else the last LEMoE variant run.
  run_result saved;
  for (const auto& name : names) {
    const method& m = method_named(name);
    for (long long o = m.planned ? -1 : 0; o < (m.planned ? 0 : a.orders); ++o) {
      run_result total;
      total.method = name;
      total.order = o < 0 ? (m.whole_clusters ? "clusters" : "planned") : "random:" + std::to_string(a.seed + 1000 + static_cast<std::uint64_t>(o));
      double rc = 0, weight_rc = 0;
      for (std::size_t st = 0; st < streams.size(); ++st) {
        const std::string label = name + " " + total.order + (streams.size() > 1 ? " #" + std::to_string(st + 1) : "");
        run_result r = run_method(m, B, batches_for(m, streams[st], o, st), bar, label);
        if (r.save && !(saved.method == "lemoe" && name != "lemoe")) saved.method = name, saved.save = r.save, saved.experts = r.experts;
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
      if (weight_rc > 0) total.rc = rc / weight_rc;
      total.seconds = total.total_seconds / static_cast<double>(T);
      results.push_back(std::move(total));
    }
  }

  report_context ctx;
  ctx.title = "beacon edit-bench: " + std::to_string(T) + " edits in " + std::to_string(a.steps) + " steps (" + (embedded ? "embedded" : "ZsRE") + ", " +
              a.host + " host)";
  ctx.config = {{"data", embedded ? "embedded" : a.data}, {"records_skipped", skipped}, {"edits", T}, {"steps", a.steps}, {"batch", batch},
                {"chunk", a.chunk > 0 ? nlohmann::json(N) : nlohmann::json(nullptr)}, {"streams", streams.size()}, {"methods", names},
                {"orders", a.orders}, {"seed", a.seed}, {"threads", compute_threads}, {"expert_hidden", a.expert_hidden}, {"lr", a.lr},
                {"ft_lr", a.ft_lr}, {"loss_threshold", a.loss_threshold}, {"max_iters", a.max_iters}, {"null_threshold", a.null_threshold},
                {"anchor_threshold", a.anchor_threshold}, {"key_threshold", a.key_threshold}, {"loss", a.loss}, {"filter", filter_json}, {"pretrain_epochs", pre.epochs},
                {"pretrain_seconds", pre.seconds}};
  for (const auto& [k, v] : p.config.items()) ctx.config[k] = v;
  ctx.header = {{"base_accuracy", pre.accuracy}, {"base_accuracy_detail", {{"src", pre.src}, {"rephrase", pre.rephrase}, {"loc", pre.loc}}},
                {"seconds_total", seconds_since(t_start)}};
  report(a, names, results, ctx);
  if (!a.save.empty()) {
    if (!saved.save)
      throw value_error("beacon edit-bench: argument '--save' expected a method with a LEMoE adaptor (lemoe, lemoe+plan, lemoe+replay, lemoe+anchors(+plan) or "
                        "lemoe+instance-anchors(+plan)) in --methods");
    saved.save(a.save);
    std::printf("saved the final %s adaptor (%lld experts) to %s\n", saved.method.c_str(), saved.experts, a.save.c_str());
  }
}
}  // namespace

void add_edit_bench_command(CLI::App& app) {
  auto a = std::make_shared<args>();
  auto* cmd = app.add_subcommand("edit-bench", "Lifelong editing end to end: pre-train a small knowledge model, edit it (ft, moe, LEMoE variants), score Rel/Gen/Loc");
  cmd->add_option("--data", a->data, "ZsRE-format JSON (EasyEdit/MEND records); default: an embedded synthetic knowledge base");
  cmd->add_option("--edits", a->edits, "number of edits T (default 1000 with --data, 300 embedded)")->check(integer_in(1, 10000000));
  cmd->add_option("--steps", a->steps, "editing steps S (batch = T/S)")->check(integer_in(1, 1000000));
  cmd->add_option("--methods", a->methods, "comma list of ft,moe,lemoe-gate,lemoe,lemoe+plan,lemoe+replay,lemoe+anchors,lemoe+anchors+plan,lemoe+keys,lemoe+keys+plan,"
                                        "lemoe+keys+clusters,lemoe+instance-anchors,lemoe+instance-anchors+plan (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember(method_names()));
  cmd->add_option("--chunk", a->chunk, "rollback protocol: streams of N edits, the model reset between streams, metrics averaged")
      ->check(integer_in(1, 10000000));
  cmd->add_option("--orders", a->orders, "random edit orders (seeds) per method")->check(integer_in(1, 100));
  cmd->add_option("--seed", a->seed, "seed of the data generator, host model, orders and experts")->check(integer_in(0, max_seed));
  cmd->add_option("--threads", a->threads, "CPU threads of the host model and the adaptors (default: all)")->check(integer_in(1, 1024));
  cmd->add_option("--max-iters", a->max_iters, "training iterations per editing step at most")->check(integer_in(1, 1000000));
  cmd->add_option("--loss-threshold", a->loss_threshold, "stop a step's training when the batch loss is below this")->check(real_in(0, 1e6, true));
  cmd->add_option("--lr", a->lr, "AdamW learning rate of the adaptors")->check(real_in(0, 10, true));
  cmd->add_option("--ft-lr", a->ft_lr, "AdamW learning rate of fine-tuning (ft)")->check(real_in(0, 10, true));
  cmd->add_option("--null-threshold", a->null_threshold, "lemoe+anchors(+plan): cosine to the expert key below which an instance uses no expert")
      ->check(real_in(-1, 1));
  cmd->add_option("--key-threshold", a->key_threshold, "lemoe+keys(+plan): cosine to the nearest expert key below which an instance uses no expert")
      ->check(real_in(-1, 1));
  cmd->add_option("--anchor-threshold", a->anchor_threshold,
                  "lemoe+instance-anchors(+plan): cosine to the nearest stored anchor below which an instance uses no expert")
      ->check(real_in(-1, 1));
  cmd->add_option("--loss", a->loss, "training loss of every method: ce, or semantic (semantic re-weighted CE, edits filtered by d0)")
      ->check(CLI::IsMember({"ce", "semantic"}));
  cmd->add_option("--filter-fraction", a->filter_fraction, "--loss semantic: share of edits with the largest d0 left out of training (0 keeps all)")
      ->check(real_in(0, 1));
  cmd->add_option("--pretrain-epochs", a->pretrain_epochs, "host pre-training epochs at most")->check(integer_in(1, 100000));
  cmd->add_option("--host", a->host, "host model: bow (bag of words: mean-pooled embeddings, one FFN block) or transformer (a Transformer encoder "
                                     "whose last FFN carries the adaptor)")
      ->check(CLI::IsMember({"bow", "transformer"}));
  cmd->add_option("--host-dim,--d", a->d, "host model width d")->check(integer_in(1, 4096));
  cmd->add_option("--ffn-hidden", a->ffn_hidden, "host FFN hidden width (default 4 d)")->check(integer_in(1, 16384));
  cmd->add_option("--layers", a->layers, "--host transformer: encoder layers")->check(integer_in(1, 12));
  cmd->add_option("--heads", a->heads, "--host transformer: attention heads (must divide --host-dim)")->check(integer_in(1, 64));
  cmd->add_option("--expert-hidden", a->expert_hidden, "adaptor expert hidden width")->check(integer_in(1, 16384));
  cmd->add_option("--json", a->json, "write the results as JSON to this file ('-' = stdout)");
  cmd->add_option("--svg", a->svg, "write a grouped bar chart (Rel/Gen/Loc/Avg per method) to this file");
  cmd->add_option("--save", a->save, "save the final lemoe adaptor, else the last LEMoE variant run (safetensors; see `beacon inspect`)");
  cmd->add_flag("--quiet", a->quiet, "no progress bar on stderr");
  cmd->callback([a] { run(*a); });
}

}  // namespace beacon::cli::edit_bench
