// SPDX-License-Identifier: Apache-2.0
#pragma once
// `beacon edit-bench`: what the two host models share — the questions of the records, the
// pre-training loop, and the prepared host the command edits (the hosts are edit_bench_bow.cpp and
// edit_bench_transformer.cpp).
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "edit_bench_common.hpp"

namespace beacon::cli::edit_bench {

// ---------------------------------------------------------------- vocabulary and answers
/// Words and answer strings seen in the records, numbered in order of first use.
struct vocabulary {
  std::map<std::string, int> words, answer_ids;
  std::vector<std::string> answers;
  int word(const std::string& w) { return words.emplace(w, static_cast<int>(words.size())).first->second; }
  index_type answer(const std::string& a) {
    const auto [it, added] = answer_ids.emplace(a, static_cast<int>(answers.size()));
    if (added) answers.push_back(a);
    return it->second;
  }
  std::vector<int> encode(const std::string& q) {
    std::vector<int> ids;
    for (const auto& w : tokenize(q)) ids.push_back(word(w));
    if (ids.empty()) ids.push_back(word("<empty>"));
    return ids;
  }
};

using token_lists = std::vector<std::vector<int>>;

/// The questions of T records as the hosts read them: rows [0, T) edit prompts, [T, 2T) paraphrases,
/// [2T, 3T) locality questions; labels are the original answers (pred, pred, loc_ans); alt the targets.
struct question_set {
  vocabulary vocab;
  token_lists tokens;
  std::vector<index_type> labels, alt;
  explicit question_set(const std::vector<record>& recs) {
    for (const auto& r : recs) tokens.push_back(vocab.encode(r.src)), labels.push_back(vocab.answer(r.pred));
    for (const auto& r : recs) tokens.push_back(vocab.encode(r.rephrase)), labels.push_back(vocab.answer(r.pred));
    for (const auto& r : recs) tokens.push_back(vocab.encode(r.loc)), labels.push_back(vocab.answer(r.loc_ans));
    for (const auto& r : recs) alt.push_back(vocab.answer(r.alt));
  }
  [[nodiscard]] size_type edits() const { return static_cast<size_type>(alt.size()); }
};

struct pretrain_report {
  long long epochs = 0;
  double seconds = 0, accuracy = 0, src = 0, rephrase = 0, loc = 0;
};

/// A host model built and pre-trained on the records, frozen, with the features of every question.
struct prepared_host {
  bench_host host;
  edit::edit_set<float> raw;  // routing rows: the host's instance embeddings
  pretrain_report pre;
  std::string description;    // one line for the terminal
  nlohmann::json config;      // the host's settings for the JSON report
  size_type d = 0;
};

/// The pre-training loop of both hosts: AdamW (`lr`, no weight decay) over batches of `batch`
/// questions in a seeded shuffle per epoch, until an epoch answers every question or
/// --pretrain-epochs. `step(idx, labels, correct)` returns the batch's mean loss after accumulating
/// the gradients of `params` (zeroed before each step) and counting right answers.
template <class Step>
pretrain_report pretrain_host(const std::vector<hparam*>& params, const question_set& q, const args& a, double lr, int batch, progress& bar, Step step) {
  const auto t0 = clock_type::now();
  const auto N = static_cast<int>(q.tokens.size());
  beacon::adamw opt;
  opt.lr = lr;
  opt.weight_decay = 0;
  std::vector<int> order(static_cast<std::size_t>(N));
  for (int i = 0; i < N; ++i) order[static_cast<std::size_t>(i)] = i;
  pretrain_report r;
  bar.begin("pre-training host (epochs)", a.pretrain_epochs);  // stops early once every question is answered
  for (long long epoch = 0; epoch < a.pretrain_epochs; ++epoch) {
    const philox_stream rng{a.seed + 77, static_cast<std::uint64_t>(epoch) << 32};
    for (int i = N - 1; i > 0; --i)
      std::swap(order[static_cast<std::size_t>(i)],
                order[static_cast<std::size_t>(static_cast<int>(rng.uniform(static_cast<std::uint64_t>(i)) * static_cast<float>(i + 1)) % (i + 1))]);
    int correct_total = 0;
    double loss_total = 0;
    for (int first = 0; first < N; first += batch) {
      const std::vector<int> idx(order.begin() + first, order.begin() + std::min(N, first + batch));
      std::vector<index_type> y;
      for (int i : idx) y.push_back(q.labels[static_cast<std::size_t>(i)]);
      zero_grads(params);
      int correct = 0;
      loss_total += step(idx, y, correct) * static_cast<double>(idx.size());
      correct_total += correct;
      adamw_step_all(opt, params);
    }
    r.epochs = epoch + 1;
    bar.step_done(epoch + 1, loss_total / N);
    if (correct_total == N) break;  // every original fact answered (during the epoch)
  }
  bar.finish();
  r.seconds = seconds_since(t0);
  return r;
}

/// Fills set.target, set.loc_answer and the accuracy of the unedited host from the frozen block
/// outputs h0 of every question.
inline void finish_prepared(prepared_host& p, const question_set& q) {
  const auto T = static_cast<std::size_t>(q.edits());
  p.raw.target = q.alt;
  p.raw.loc_answer = p.host.predict(p.raw.loc.h0);
  const auto ps = p.host.predict(p.raw.src.h0), pr = p.host.predict(p.raw.rephrase.h0);
  double s = 0, r = 0, l = 0;
  for (std::size_t k = 0; k < T; ++k) {
    s += ps[k] == q.labels[k];
    r += pr[k] == q.labels[k + T];
    l += p.raw.loc_answer[k] == q.labels[k + 2 * T];
  }
  const auto n = static_cast<double>(T);
  p.pre.src = s / n, p.pre.rephrase = r / n, p.pre.loc = l / n, p.pre.accuracy = (s + r + l) / (3 * n);
}

/// The hosts (edit_bench_bow.cpp, edit_bench_transformer.cpp).
prepared_host prepare_bow_host(const std::vector<record>& recs, const args& a, progress& bar);
prepared_host prepare_transformer_host(const std::vector<record>& recs, const args& a, progress& bar);

}  // namespace beacon::cli::edit_bench
