// SPDX-License-Identifier: Apache-2.0
// `beacon edit-bench --host bow` (the default): the bag-of-words host — token embeddings -> masked
// mean-pool -> one residual FFN block -> output layer over answer strings. The adaptor sits beside
// the FFN block: block input x = the pooled embedding, routing row e = x, h0 = x + FFN0(x).
#include <algorithm>
#include <numeric>

#include "edit_bench_hosts.hpp"

namespace beacon::cli::edit_bench {
namespace {

struct bow_model {
  size_type d = 0;
  hparam emb, w_out;  // V x d, A x d
  ffn_state ffn;      // FFN0: d -> hidden -> d
  std::vector<hparam*> params() {
    std::vector<hparam*> p = {&emb, &w_out};
    for (auto& q : ffn) p.push_back(&q);
    return p;
  }
};

/// Instance embeddings: masked mean-pool of the questions' token embeddings (rows `idx` of `toks`).
mat pool(const bow_model& h, const token_lists& toks, const std::vector<int>& idx) {
  size_type L = 1;
  for (int i : idx) L = std::max<size_type>(L, static_cast<size_type>(toks[static_cast<std::size_t>(i)].size()));
  const auto n = static_cast<size_type>(idx.size());
  mat tok = mat::Zero(n * L, h.d), mask = mat::Zero(n, L), out(n, h.d);
  const auto E = values_of(h.emb);
  for (size_type b = 0; b < n; ++b) {
    const auto& t = toks[static_cast<std::size_t>(idx[static_cast<std::size_t>(b)])];
    for (std::size_t l = 0; l < t.size(); ++l) {
      tok.row(b * L + static_cast<size_type>(l)) = E.row(t[l]);
      mask(b, static_cast<size_type>(l)) = 1;
    }
  }
  masked_mean_pool(compute(), as_view(std::as_const(tok)), as_view(std::as_const(mask)), as_view(out));
  return out;
}

/// Pre-trains every weight on src -> pred, rephrase -> pred and loc -> loc_ans (lr 5e-3, batches of 256).
pretrain_report pretrain(bow_model& h, const question_set& q, const args& a, progress& bar) {
  return pretrain_host(h.params(), q, a, 5e-3, 256, bar, [&](const std::vector<int>& idx, const std::vector<index_type>& y, int& correct) {
    const mat X = pool(h, q.tokens, idx);
    mat cache;
    const mat H = X + ffn_forward(h.ffn, X, &cache);
    mat dH, dlogits;
    const double loss = cross_entropy(H, y, h.w_out, dH, &correct, &dlogits);
    grads_of(h.w_out).noalias() += dlogits.transpose() * H;
    mat dX;
    ffn_backward(h.ffn, X, cache, dH, &dX);
    dX += dH;
    auto G = grads_of(h.emb);
    for (std::size_t b = 0; b < idx.size(); ++b) {
      const auto& t = q.tokens[static_cast<std::size_t>(idx[b])];
      const float inv = 1.0f / static_cast<float>(t.size());
      for (int w : t) G.row(w) += inv * dX.row(static_cast<size_type>(b));
    }
    return loss;
  });
}

}  // namespace

prepared_host prepare_bow_host(const std::vector<record>& recs, const args& a, progress& bar) {
  const question_set q(recs);
  auto model = std::make_shared<bow_model>();
  bow_model& h = *model;
  h.d = a.d;
  const auto V = static_cast<size_type>(q.vocab.words.size()), A = static_cast<size_type>(q.vocab.answers.size());
  const cpu be = compute();
  h.emb = hparam(be, "emb", {V, h.d});
  h.w_out = hparam(be, "w_out", {A, h.d});
  h.ffn = ffn_t::make<float, cpu>(be, {h.d, a.ffn_width()}, "ffn0.");
  moe::init_normal(be, h.emb, a.seed, 1, 1.0);
  moe::init_normal(be, h.w_out, a.seed, 2, 1.0 / std::sqrt(static_cast<double>(h.d)));
  moe::init_normal(be, h.ffn[0], a.seed, 3, 1.0 / std::sqrt(static_cast<double>(h.d)));
  moe::init_normal(be, h.ffn[2], a.seed, 4, 1.0 / std::sqrt(static_cast<double>(a.ffn_width())));
  prepared_host p;
  p.pre = pretrain(h, q, a, bar);
  for (auto* w : h.params()) w->freeze();

  const auto T = q.edits();
  std::vector<int> idx(static_cast<std::size_t>(3 * T));
  std::iota(idx.begin(), idx.end(), 0);
  const mat X = pool(h, q.tokens, idx);
  auto features = [&](const mat& x) { return edit::question_features<float>{x, x, x + ffn_forward(h.ffn, x)}; };
  p.raw.src = features(X.topRows(T));
  p.raw.rephrase = features(X.middleRows(T, T));
  p.raw.loc = features(X.bottomRows(T));
  p.host.block_weights = &h.ffn;
  p.host.w_out = &h.w_out;
  p.host.model = model;
  p.d = h.d;
  finish_prepared(p, q);
  p.description = "host model: bag of words, V = " + std::to_string(V) + " words, " + std::to_string(A) + " answers, d = " + std::to_string(h.d) +
                  ", FFN hidden " + std::to_string(a.ffn_width());
  p.config = {{"host", "bow"}, {"vocabulary", V}, {"answers", A}, {"d", h.d}, {"ffn_hidden", a.ffn_width()}};
  return p;
}

}  // namespace beacon::cli::edit_bench
