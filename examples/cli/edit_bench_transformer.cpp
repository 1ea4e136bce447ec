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

#include "edit_bench_common.hpp"
#include "hosts/attention.hpp"
#include "hosts/layer_norm.hpp"

namespace beacon::cli::edit_bench {
namespace {

using fvec = std::vector<float>;
inline vector_view<float> vec(fvec& v) { return {v.data(), static_cast<size_type>(v.size())}; }
inline vector_view<const float> cvec(const fvec& v) { return {v.data(), static_cast<size_type>(v.size())}; }
inline matrix_view<const float> cv(const mat& m) { return as_view(m); }
inline vector_view<const float> pvec(const hparam& p) { return p.value_vector(); }
inline vector_view<float> gvec(hparam& p) { return p.frozen() ? vector_view<float>() : vector_view<float>(p.grad().data(), p.size()); }

constexpr float ln_eps = 1e-5f;

struct encoder_layer {
  hparam ln1_g, ln1_b, wq, wk, wv, wo, ln2_g, ln2_b;
  ffn_state ffn;
  [[nodiscard]] hosts::attention_weights<float, host_space> attention() const {
    return {wq.value(), wk.value(), wv.value(), wo.value()};
  }
};

struct transformer_model {
  size_type d = 0, heads = 0, max_len = 0;
  hparam tok, pos, lnf_g, lnf_b, w_out;
  std::vector<encoder_layer> layers;
  std::vector<hparam*> params() {
    std::vector<hparam*> p = {&tok, &pos, &lnf_g, &lnf_b, &w_out};
    for (auto& l : layers) {
      for (auto* q : {&l.ln1_g, &l.ln1_b, &l.wq, &l.wk, &l.wv, &l.wo, &l.ln2_g, &l.ln2_b}) p.push_back(q);
      for (auto& q : l.ffn) p.push_back(&q);
    }
    return p;
  }
};

/// A batch of questions as token rows: sequence s is rows [offsets[s], offsets[s + 1]), its first
/// row the CLS token.
struct token_batch {
  std::vector<int> ids, positions;
  std::vector<index_type> offsets{0}, cls;
};

token_batch batch_of(const token_lists& toks, const std::vector<int>& idx, int cls_id) {
  token_batch b;
  for (int i : idx) {
    const auto& t = toks[static_cast<std::size_t>(i)];
    b.cls.push_back(static_cast<index_type>(b.ids.size()));
    b.ids.push_back(cls_id), b.positions.push_back(0);
    for (std::size_t l = 0; l < t.size(); ++l) b.ids.push_back(t[l]), b.positions.push_back(static_cast<int>(l + 1));
    b.offsets.push_back(static_cast<index_type>(b.ids.size()));
  }
  return b;
}

/// One layer's forward values kept for the backward. The last layer runs its FFN on the CLS rows only.
struct layer_cache {
  mat x_in, a, q, k, v, o, x_mid, b, ffn_cache;
  fvec mean1, rstd1, probs, mean2, rstd2;
};

/// Layer norm of m's rows with (gamma, beta) into a new matrix, keeping mean and rstd.
mat layer_norm(const mat& m, const hparam& g, const hparam& beta, fvec& mean, fvec& rstd) {
  mat y(m.rows(), m.cols());
  mean.resize(static_cast<std::size_t>(m.rows()));
  rstd.resize(static_cast<std::size_t>(m.rows()));
  hosts::layer_norm_forward(compute(), cv(m), pvec(g), pvec(beta), ln_eps, as_view(y), vec(mean), vec(rstd));
  return y;
}
/// dL/dm of that layer norm given dL/dy, accumulating the gain and bias gradients (when trainable).
mat layer_norm_grad(const mat& m, hparam& g, hparam& beta, const fvec& mean, const fvec& rstd, const mat& dy) {
  mat dx(m.rows(), m.cols()), scratch;
  if (g.trainable()) {
    scratch.resize(m.rows(), m.cols());
    hosts::layer_norm_backward(compute(), cv(m), pvec(g), cvec(mean), cvec(rstd), cv(dy), as_view(dx), as_view(scratch), gvec(g), gvec(beta));
  } else {
    hosts::layer_norm_backward(compute(), cv(m), pvec(g), cvec(mean), cvec(rstd), cv(dy), as_view(dx));
  }
  return dx;
}

mat rows_at(const mat& m, const std::vector<index_type>& rows) {
  mat out(static_cast<size_type>(rows.size()), m.cols());
  for (std::size_t i = 0; i < rows.size(); ++i) out.row(static_cast<size_type>(i)) = m.row(rows[i]);
  return out;
}

/// The forward pass up to the edited block. Fills one cache per layer; returns x_mid of the last
/// layer (all rows). The last layer's cache holds LN2 of the CLS rows in `b`.
mat encode(const transformer_model& m, const token_batch& tb, std::vector<layer_cache>& caches) {
  const auto n = static_cast<size_type>(tb.ids.size());
  mat x(n, m.d);
  const auto tok = values_of(m.tok), pos = values_of(m.pos);
  for (size_type r = 0; r < n; ++r) x.row(r) = tok.row(tb.ids[static_cast<std::size_t>(r)]) + pos.row(tb.positions[static_cast<std::size_t>(r)]);
  caches.resize(m.layers.size());
  for (std::size_t l = 0; l < m.layers.size(); ++l) {
    const auto& L = m.layers[l];
    auto& c = caches[l];
    c.x_in = x;
    c.a = layer_norm(x, L.ln1_g, L.ln1_b, c.mean1, c.rstd1);
    c.q.resize(n, m.d), c.k.resize(n, m.d), c.v.resize(n, m.d), c.o.resize(n, m.d);
    c.probs.resize(static_cast<std::size_t>(hosts::attention_probs_size(tb.offsets, m.heads)));
    mat y(n, m.d);
    hosts::attention_forward(compute(), cv(c.a), tb.offsets, m.heads, L.attention(), {as_view(c.q), as_view(c.k), as_view(c.v), as_view(c.o), vec(c.probs)},
                             as_view(y));
    c.x_mid = x + y;
    if (l + 1 == m.layers.size()) {
      c.b = layer_norm(rows_at(c.x_mid, tb.cls), L.ln2_g, L.ln2_b, c.mean2, c.rstd2);
      return c.x_mid;
    }
    c.b = layer_norm(c.x_mid, L.ln2_g, L.ln2_b, c.mean2, c.rstd2);
    x = c.x_mid + ffn_forward(L.ffn, c.b, &c.ffn_cache);
  }
  return x;  // not reached: a model has at least one layer
}

/// Backward of encode from dL/d(x_mid of the last layer) (all rows) and dL/d(the last LN2 output at
/// the CLS rows); accumulates every gradient down to the embeddings.
void encode_backward(transformer_model& m, const token_batch& tb, std::vector<layer_cache>& caches, mat dx_mid, const mat& db_cls) {
  const auto n = static_cast<size_type>(tb.ids.size());
  for (std::size_t l = m.layers.size(); l-- > 0;) {
    auto& L = m.layers[l];
    auto& c = caches[l];
    if (l + 1 == m.layers.size()) {
      const mat dcls = layer_norm_grad(rows_at(c.x_mid, tb.cls), L.ln2_g, L.ln2_b, c.mean2, c.rstd2, db_cls);
      for (std::size_t s = 0; s < tb.cls.size(); ++s) dx_mid.row(tb.cls[s]) += dcls.row(static_cast<size_type>(s));
    } else {  // dx_mid holds dL/d(layer output) here
      mat db;
      ffn_backward(L.ffn, c.b, c.ffn_cache, dx_mid, &db);
      dx_mid += layer_norm_grad(c.x_mid, L.ln2_g, L.ln2_b, c.mean2, c.rstd2, db);
    }
    // x_mid = x_in + Attn(LN1(x_in))
    mat da(n, m.d);
    fvec scratch(static_cast<std::size_t>(hosts::attention_backward_scratch_size(tb.offsets, m.d)));
    hosts::attention_backward(compute(), cv(c.a), tb.offsets, m.heads, L.attention(),
                              {as_view(c.q), as_view(c.k), as_view(c.v), as_view(c.o), vec(c.probs)}, cv(dx_mid),
                              {L.wq.grad(), L.wk.grad(), L.wv.grad(), L.wo.grad()}, as_view(da), vec(scratch));
    dx_mid += layer_norm_grad(c.x_in, L.ln1_g, L.ln1_b, c.mean1, c.rstd1, da);
  }
  auto gt = grads_of(m.tok), gp = grads_of(m.pos);
  for (size_type r = 0; r < n; ++r) {
    gt.row(tb.ids[static_cast<std::size_t>(r)]) += dx_mid.row(r);
    gp.row(tb.positions[static_cast<std::size_t>(r)]) += dx_mid.row(r);
  }
}

pretrain_report pretrain(transformer_model& m, const question_set& q, int cls_id, const args& a, progress& bar) {
  const auto t0 = clock_type::now();
  const auto N = static_cast<int>(q.tokens.size());
  beacon::adamw opt;
  opt.lr = 2e-3;
  opt.weight_decay = 0;
  const int batch = 128;
  std::vector<int> order(static_cast<std::size_t>(N));
  std::iota(order.begin(), order.end(), 0);
  pretrain_report r;
  auto& last = m.layers.back();
  std::vector<layer_cache> caches;
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
      const token_batch tb = batch_of(q.tokens, idx, cls_id);
      zero_grads(m.params());
      const mat x_mid = encode(m, tb, caches);
      auto& c = caches.back();
      mat ffn_cache;
      const mat h = rows_at(x_mid, tb.cls) + ffn_forward(last.ffn, c.b, &ffn_cache);
      fvec mf, rf;
      const mat z = layer_norm(h, m.lnf_g, m.lnf_b, mf, rf);
      mat dz, dlogits;
      int correct = 0;
      loss_total += cross_entropy(z, y, m.w_out, dz, &correct, &dlogits) * static_cast<double>(idx.size());
      correct_total += correct;
      grads_of(m.w_out).noalias() += dlogits.transpose() * z;
      const mat dh = layer_norm_grad(h, m.lnf_g, m.lnf_b, mf, rf, dz);
      mat db;
      ffn_backward(last.ffn, c.b, ffn_cache, dh, &db);
      mat dx_mid = mat::Zero(x_mid.rows(), m.d);
      for (std::size_t s = 0; s < tb.cls.size(); ++s) dx_mid.row(tb.cls[s]) = dh.row(static_cast<size_type>(s));
      encode_backward(m, tb, caches, std::move(dx_mid), db);
      adamw_step_all(opt, m.params());
    }
    r.epochs = epoch + 1;
    bar.show("pre-training host", 0, 1, epoch + 1, loss_total / N);
    if (correct_total == N) break;  // every original fact answered (during the epoch)
  }
  bar.clear();
  r.seconds = seconds_since(t0);
  return r;
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
  auto model = std::make_shared<transformer_model>();
  transformer_model& m = *model;
  m.d = a.d;
  m.heads = a.heads;
  for (const auto& t : q.tokens) m.max_len = std::max<size_type>(m.max_len, static_cast<size_type>(t.size()) + 1);
  const auto V = static_cast<size_type>(q.vocab.words.size()), A = static_cast<size_type>(q.vocab.answers.size());
  const cpu be = compute();
  std::uint64_t stream = 1;
  const double s_d = 1.0 / std::sqrt(static_cast<double>(m.d)), s_out = s_d / std::sqrt(2.0 * static_cast<double>(a.layers));
  auto normal = [&](hparam& p, double scale) { moe::init_normal(be, p, a.seed, stream++, scale); };
  auto ones = [&](const std::string& name) {
    hparam p(be, name, {m.d});
    fill(be, 1.0f, p.value());
    return p;
  };
  m.tok = hparam(be, "tok", {V, m.d}), normal(m.tok, 1.0);
  m.pos = hparam(be, "pos", {m.max_len, m.d}), normal(m.pos, 0.1);
  m.lnf_g = ones("lnf.g"), m.lnf_b = hparam(be, "lnf.b", {m.d});
  m.w_out = hparam(be, "w_out", {A, m.d}), normal(m.w_out, s_d);
  for (long long l = 0; l < a.layers; ++l) {
    const std::string p = "layer" + std::to_string(l) + ".";
    encoder_layer L;
    L.ln1_g = ones(p + "ln1.g"), L.ln1_b = hparam(be, p + "ln1.b", {m.d});
    L.ln2_g = ones(p + "ln2.g"), L.ln2_b = hparam(be, p + "ln2.b", {m.d});
    for (auto [w, name] : {std::pair{&L.wq, "wq"}, std::pair{&L.wk, "wk"}, std::pair{&L.wv, "wv"}, std::pair{&L.wo, "wo"}}) {
      *w = hparam(be, p + name, {m.d, m.d});
      normal(*w, w == &L.wo ? s_out : s_d);
    }
    L.ffn = ffn_t::make<float, cpu>(be, {m.d, a.ffn_width()}, p + "ffn.");
    normal(L.ffn[0], s_d);
    normal(L.ffn[2], 1.0 / std::sqrt(static_cast<double>(a.ffn_width())) / std::sqrt(2.0 * static_cast<double>(a.layers)));
    m.layers.push_back(std::move(L));
  }
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
