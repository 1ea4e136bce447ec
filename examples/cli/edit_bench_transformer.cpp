// SPDX-License-Identifier: Apache-2.0
// `beacon edit-bench --host transformer`: a contextual host — a small pre-LN Transformer encoder
// (--layers, --heads, width --host-dim, FFN 4 d) over [CLS] + the question's words, trained
// in-process and deterministic for a seed and thread count:
//
//   x = tok[w] + pos[p];  per layer: x += Attn(LN1(x)); x += FFN(LN2(x));  answer = argmax LN_f(x_CLS) W_out^T
//
// The adaptor sits beside the FFN of the last layer. The answer reads the CLS row only, so in the
// last layer only the CLS row's FFN output matters: per question the block input is x = LN2(x_CLS),
// the frozen block output h0 = x_CLS + FFN(LN2(x_CLS)), and the instance embedding (routing row) is
// e = the mean over the question's tokens of LN2(x) — the block's input rows, as in LEMoE.
#include <algorithm>
#include <numeric>

#include "hosts/transformer_encoder.hpp"

namespace beacon::cli::edit_bench {
namespace {

using namespace transformer;

/// Pre-trains every weight on src -> pred, rephrase -> pred and loc -> loc_ans (lr 2e-3, batches of 128).
pretrain_report pretrain(transformer_model& m, const question_set& q, int cls_id, const args& a, progress& bar) {
  return pretrain_host(m.params(), q, a, 2e-3, 128, bar, [&](const std::vector<int>& idx, const std::vector<index_type>& y, int& correct) {
    return training_loss(m, batch_of(q.tokens, idx, cls_id), y, true, &correct);
  });
}

/// The frozen model's features of questions [first, first + n): block input, routing row, h0.
edit::question_features<float> features(const transformer_model& m, const token_lists& toks, int first, int n, int cls_id) {
  edit::question_features<float> f;
  f.x.resize(n, m.d), f.e.resize(n, m.d), f.h0.resize(n, m.d);
  const auto& last = m.layers.back();
  std::vector<layer_cache> caches;
  for (int lo = first; lo < first + n; lo += 256) {
    std::vector<int> idx(static_cast<std::size_t>(std::min(256, first + n - lo)));
    std::iota(idx.begin(), idx.end(), lo);
    const token_batch tb = batch_of(toks, idx, cls_id);
    const mat x_mid = encode(m, tb, caches);
    fvec mean, rstd;
    const mat all = layer_norm(x_mid, last.ln2_g, last.ln2_b, mean, rstd);  // the block's input rows
    const mat& b = caches.back().b;
    const mat h0 = rows_at(x_mid, tb.cls) + ffn_forward(last.ffn, b);
    for (std::size_t s = 0; s < idx.size(); ++s) {
      const auto row = static_cast<size_type>(lo - first) + static_cast<size_type>(s);
      const auto from = tb.offsets[s], len = tb.offsets[s + 1] - from;
      f.x.row(row) = b.row(static_cast<size_type>(s));
      f.e.row(row) = all.middleRows(from, len).colwise().mean();
      f.h0.row(row) = h0.row(static_cast<size_type>(s));
    }
  }
  return f;
}

}  // namespace

prepared_host prepare_transformer_host(const std::vector<record>& recs, const args& a, progress& bar) {
  if (a.d % a.heads != 0)
    throw value_error("beacon edit-bench: argument '--heads' expected a divisor of --host-dim (" + std::to_string(a.d) + "), got " + std::to_string(a.heads));
  question_set q(recs);
  const int cls_id = q.vocab.word("<cls>");
  size_type max_len = 0;
  for (const auto& t : q.tokens) max_len = std::max<size_type>(max_len, static_cast<size_type>(t.size()) + 1);
  const auto V = static_cast<size_type>(q.vocab.words.size()), A = static_cast<size_type>(q.vocab.answers.size());
  auto model = std::make_shared<transformer_model>(make_model(V, A, max_len, a.d, a.heads, a.layers, a.ffn_width(), a.seed));
  transformer_model& m = *model;
  prepared_host p;
  p.pre = pretrain(m, q, cls_id, a, bar);
  for (auto* w : m.params()) w->freeze();

  const auto T = static_cast<int>(q.edits());
  p.raw.src = features(m, q.tokens, 0, T, cls_id);
  p.raw.rephrase = features(m, q.tokens, T, T, cls_id);
  p.raw.loc = features(m, q.tokens, 2 * T, T, cls_id);
  const transformer_model* frozen = model.get();
  p.host.readout = [frozen](const mat& h) {
    fvec mean, rstd;
    return layer_norm(h, frozen->lnf_g, frozen->lnf_b, mean, rstd);
  };
  p.host.readout_backward = [frozen](const mat& h, const mat& dz) {
    fvec mean, rstd;
    (void)layer_norm(h, frozen->lnf_g, frozen->lnf_b, mean, rstd);
    mat dh(h.rows(), h.cols());
    hosts::layer_norm_backward(compute(), cv(h), pvec(frozen->lnf_g), cvec(mean), cvec(rstd), cv(dz), as_view(dh));
    return dh;
  };
  p.host.block_weights = &m.layers.back().ffn;
  p.host.w_out = &m.w_out;
  p.host.model = model;
  p.d = m.d;
  finish_prepared(p, q);
  p.description = "host model: Transformer encoder, " + std::to_string(a.layers) + " layers, " + std::to_string(a.heads) + " heads, V = " +
                  std::to_string(V) + " words, " + std::to_string(A) + " answers, d = " + std::to_string(m.d) + ", FFN hidden " + std::to_string(a.ffn_width());
  p.config = {{"host", "transformer"}, {"layers", a.layers}, {"heads", a.heads}, {"vocabulary", V}, {"answers", A}, {"d", m.d}, {"ffn_hidden", a.ffn_width()}};
  return p;
}

}  // namespace beacon::cli::edit_bench
