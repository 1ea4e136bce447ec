// SPDX-License-Identifier: Apache-2.0
// `beacon schedule`: a noise schedule's buffers as JSON, CSV or an SVG of the alpha_bar curves.
#include <beacon/diffusion/entropy_schedule.hpp>
#include <beacon/diffusion/information.hpp>
#include <beacon/diffusion/schedule.hpp>
#include <beacon/io/read_file.hpp>
#include <beacon/core/host_memory.hpp>

#include <algorithm>
#include <map>
#include <sstream>

#include "cli_common.hpp"
#include "svg.hpp"

namespace beacon::cli {
namespace {

struct schedule_args {
  std::string kind = "info", sentence, corpus, format = "json", out;
  long long steps = 2000;
  double lambda = 0.5;
  std::vector<double> e;
};

// A small built-in corpus so `--sentence` works without `--corpus` (the demo uses it).
const char* builtin_corpus[] = {
    "what university did the geologist attend",      "which school did the author go to",
    "what is the capital of the country",            "who is the author of the book",
    "the geologist went to the school in the city",  "which river flows through the capital",
    "what team does the player play for",            "the player joined the team in the city",
    "who founded the company in the country",        "the company is based in the capital of the country",
};

struct series {
  std::string label;  // token text or e value
  std::string key;    // "token" or "e"
  double e = 0;
  diffusion::schedule_tables t;
};

const char* buffer_names[] = {"betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
                              "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2"};

const std::vector<double>& buffer(const diffusion::schedule_tables& t, int i) {
  const std::vector<double>* b[] = {&t.betas, &t.alphas_cumprod, &t.alphas_cumprod_prev, &t.sqrt_alphas_cumprod, &t.sqrt_one_minus_alphas_cumprod,
                                    &t.posterior_variance, &t.posterior_log_variance_clipped, &t.posterior_mean_coef1, &t.posterior_mean_coef2};
  return *b[i];
}

std::string arrays_json(const diffusion::schedule_tables& t) {
  std::string s;
  for (int i = 0; i < 9; ++i) s += (i ? "," : "") + json_string(buffer_names[i]) + ":" + json_array(buffer(t, i));
  return s;
}

/// Refuses, before computing anything, a request whose tables and text would not fit in memory:
/// 9 buffers of T doubles per row, and about 24 characters per printed value.
void check_size(const schedule_args& a, std::size_t rows) {
  const double bytes = static_cast<double>(rows) * static_cast<double>(a.steps) * 9.0 * (8.0 + 24.0);
  const double limit = static_cast<double>(physical_memory_bytes()) / 2;
  if (bytes > limit)
    throw value_error(beacon::concat("beacon schedule: argument '--steps' expected at most ", static_cast<long long>(limit / (static_cast<double>(rows) * 9 * 32)),
                                     " for ", rows, rows == 1 ? " schedule" : " schedules", " (half of this machine's memory), got ", a.steps));
}

void run(const schedule_args& a) {
  const auto kind = diffusion::parse_schedule_kind(a.kind);
  std::vector<series> rows;
  if (kind != diffusion::schedule_kind::info) {
    if (!a.e.empty() || !a.sentence.empty()) throw value_error("beacon schedule: argument '--e/--sentence' expected only with --kind info");
    check_size(a, 1);
    rows.push_back({"", "", 0, diffusion::make_schedule(kind, a.steps)});
  } else {
    const diffusion::info_schedule s(a.steps, {.lambda = a.lambda});
    if (!a.sentence.empty()) {
      std::vector<std::string> lines;
      if (!a.corpus.empty()) {
        const auto bytes = io::read_file(a.corpus, "schedule");  // a regular file only: not /dev/zero, not a directory
        std::istringstream in(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        for (std::string l; std::getline(in, l);) lines.push_back(l);
      } else {
        lines.assign(std::begin(builtin_corpus), std::end(builtin_corpus));
      }
      std::map<std::string, index_type> vocab;
      auto id_of = [&](const std::string& w) {
        const auto it = vocab.emplace(w, static_cast<index_type>(vocab.size())).first;
        return it->second;
      };
      std::vector<std::vector<index_type>> docs;
      for (const auto& l : lines) {
        std::vector<index_type> ids;
        for (const auto& w : tokenize(l)) ids.push_back(id_of(w));
        docs.push_back(ids);
      }
      const auto words = tokenize(a.sentence);
      if (words.empty()) throw value_error("beacon schedule: argument '--sentence' expected at least one word, got none");
      std::vector<index_type> sentence;
      for (const auto& w : words) sentence.push_back(id_of(w));  // unseen words get ids too (count 0)
      diffusion::corpus_statistics stats(static_cast<size_type>(vocab.size()));
      for (const auto& d : docs) stats.add_sentence(d);
      const auto e = diffusion::normalised_information(diffusion::token_information(stats, sentence));
      check_size(a, words.size());
      for (std::size_t i = 0; i < words.size(); ++i) rows.push_back({words[i], "token", e[i], s.tables(e[i])});
    } else {
      const std::vector<double> es = a.e.empty() ? std::vector<double>{0.0} : a.e;
      check_size(a, es.size());
      for (double v : es) rows.push_back({json_number(v), "e", v, s.tables(v)});
    }
  }
  std::string text;
  if (a.format == "json") {
    text = "{" + json_string("kind") + ":" + json_string(a.kind) + "," + json_string("steps") + ":" + std::to_string(a.steps);
    if (kind == diffusion::schedule_kind::info) {
      text += "," + json_string("lambda") + ":" + json_number(a.lambda) + "," + json_string("tokens") + ":[";
      for (std::size_t r = 0; r < rows.size(); ++r) {
        text += r ? ",{" : "{";
        if (rows[r].key == "token") text += json_string("token") + ":" + json_string(rows[r].label) + ",";
        text += json_string("e") + ":" + json_number(rows[r].e) + "," + arrays_json(rows[r].t) + "}";
      }
      text += "]}";
    } else {
      text += "," + arrays_json(rows[0].t) + "}";
    }
  } else if (a.format == "csv") {
    std::ostringstream os;
    os << (kind == diffusion::schedule_kind::info ? "token,e,k" : "k");
    for (const char* n : buffer_names) os << ',' << n;
    os << '\n';
    for (const auto& r : rows)
      for (size_type k = 0; k < r.t.steps(); ++k) {
        if (kind == diffusion::schedule_kind::info) os << (r.key == "token" ? r.label : "") << ',' << json_number(r.e) << ',';
        os << k;
        for (int i = 0; i < 9; ++i) os << ',' << json_number(buffer(r.t, i)[static_cast<std::size_t>(k)]);
        os << '\n';
      }
    text = os.str();
  } else {
    svg_line_chart chart("alpha_bar per step: " + a.kind + (kind == diffusion::schedule_kind::info ? " schedule (keyinfo-first)" : " schedule"),
                         "step k (of T = " + std::to_string(a.steps) + ")", "alpha_bar");
    // Tokens with the same e have the same curve: one line, one legend entry naming them all.
    std::vector<std::pair<std::string, const series*>> curves;
    for (const auto& r : rows) {
      const std::string e = "e = " + sig3(r.e);
      auto same = std::find_if(curves.begin(), curves.end(), [&](const auto& c) { return c.second->e == r.e && r.key == "token"; });
      if (same != curves.end()) {
        same->first.insert(same->first.rfind(" ("), ", " + r.label);
        continue;
      }
      curves.emplace_back(r.key == "token" ? r.label + " (" + e + ")" : (r.key == "e" ? e : a.kind), &r);
    }
    for (const auto& [label, r] : curves) chart.add_line(label, r->t.alphas_cumprod);
    text = chart.render();
  }
  emit(a.out, text);
}

}  // namespace

void add_schedule_command(CLI::App& app) {
  auto args = std::make_shared<schedule_args>();
  auto* cmd = app.add_subcommand("schedule", "Print a noise schedule's buffers (InfoDiffusion / DiffuSeq schedules)");
  cmd->add_option("--kind", args->kind, "linear|cosine|sqrt|trunc_cos|trunc_lin|pw_lin|info")
      ->check(CLI::IsMember({"linear", "cosine", "sqrt", "trunc_cos", "trunc_lin", "pw_lin", "info"}));
  cmd->add_option("--steps", args->steps, "number of diffusion steps T")->check(integer_in(1, 1000000));
  cmd->add_option("--lambda", args->lambda, "info: strength of the entropy bump (>= 0)")->check(real_in(0, 1e6));
  cmd->add_option("--e", args->e, "info: normalised information values, comma separated")->delimiter(',')->check(real_in(-1e6, 1e6));
  cmd->add_option("--sentence", args->sentence, "info: a sentence; e per word from --corpus (or a built-in sample corpus)");
  cmd->add_option("--corpus", args->corpus, "info: text file, one sentence per line, for the word statistics")->check(CLI::ExistingFile);
  cmd->add_option("--format", args->format, "json|csv|svg")->check(CLI::IsMember({"json", "csv", "svg"}));
  cmd->add_option("--out", args->out, "output file (default: stdout)");
  cmd->callback([args] { run(*args); });
}

}  // namespace beacon::cli
