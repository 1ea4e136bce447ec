// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Transformer host of `beacon edit-bench --host transformer` (edit_bench_transformer.cpp): a
// pre-LN encoder over [CLS] + the question's words, its forward pass up to the edited block (the FFN
// of the last layer, at the CLS row) and the backward pass of its training loss, over the layers in
// layer_norm.hpp and attention.hpp and the library's MLP kernels. ctest `hosts::transformer` checks
// the whole backward against finite differences.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "../edit_bench_hosts.hpp"
#include "attention.hpp"
#include "layer_norm.hpp"

namespace beacon::cli::edit_bench::transformer {

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

inline token_batch batch_of(const token_lists& toks, const std::vector<int>& idx, int cls_id) {
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
inline mat layer_norm(const mat& m, const hparam& g, const hparam& beta, fvec& mean, fvec& rstd) {
  mat y(m.rows(), m.cols());
  mean.resize(static_cast<std::size_t>(m.rows()));
  rstd.resize(static_cast<std::size_t>(m.rows()));
  hosts::layer_norm_forward(compute(), cv(m), pvec(g), pvec(beta), ln_eps, as_view(y), vec(mean), vec(rstd));
  return y;
}
/// dL/dm of that layer norm given dL/dy, accumulating the gain and bias gradients (when trainable).
inline mat layer_norm_grad(const mat& m, hparam& g, hparam& beta, const fvec& mean, const fvec& rstd, const mat& dy) {
  mat dx(m.rows(), m.cols()), scratch;
  if (g.trainable()) {
    scratch.resize(m.rows(), m.cols());
    hosts::layer_norm_backward(compute(), cv(m), pvec(g), cvec(mean), cvec(rstd), cv(dy), as_view(dx), as_view(scratch), gvec(g), gvec(beta));
  } else {
    hosts::layer_norm_backward(compute(), cv(m), pvec(g), cvec(mean), cvec(rstd), cv(dy), as_view(dx));
  }
  return dx;
}

inline mat rows_at(const mat& m, const std::vector<index_type>& rows) {
  mat out(static_cast<size_type>(rows.size()), m.cols());
  for (std::size_t i = 0; i < rows.size(); ++i) out.row(static_cast<size_type>(i)) = m.row(rows[i]);
  return out;
}

/// The forward pass up to the edited block. Fills one cache per layer; returns x_mid of the last
/// layer (all rows). The last layer's cache holds LN2 of the CLS rows in `b`.
inline mat encode(const transformer_model& m, const token_batch& tb, std::vector<layer_cache>& caches) {
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
inline void encode_backward(transformer_model& m, const token_batch& tb, std::vector<layer_cache>& caches, mat dx_mid, const mat& db_cls) {
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


/// A model of `layers` pre-LN layers (width d, `heads` heads, FFN d -> ffn_hidden -> d) over V words,
/// positions < max_len and A answers; weights drawn from `seed` (GPT-2-style scaled residual outputs).
inline transformer_model make_model(size_type V, size_type A, size_type max_len, size_type d, size_type heads, size_type layers, size_type ffn_hidden,
                                    std::uint64_t seed) {
  transformer_model m;
  m.d = d, m.heads = heads, m.max_len = max_len;
  const cpu be = compute();
  std::uint64_t stream = 1;
  const double s_d = 1.0 / std::sqrt(static_cast<double>(d)), residual = 1.0 / std::sqrt(2.0 * static_cast<double>(layers));
  auto normal = [&](hparam& p, double scale) { moe::init_normal(be, p, seed, stream++, scale); };
  auto ones = [&](const std::string& name) {
    hparam p(be, name, {d});
    fill(be, 1.0f, p.value());
    return p;
  };
  m.tok = hparam(be, "tok", {V, d}), normal(m.tok, 1.0);
  m.pos = hparam(be, "pos", {max_len, d}), normal(m.pos, 0.1);
  m.lnf_g = ones("lnf.g"), m.lnf_b = hparam(be, "lnf.b", {d});
  m.w_out = hparam(be, "w_out", {A, d}), normal(m.w_out, s_d);
  for (size_type l = 0; l < layers; ++l) {
    const std::string p = "layer" + std::to_string(l) + ".";
    encoder_layer L;
    L.ln1_g = ones(p + "ln1.g"), L.ln1_b = hparam(be, p + "ln1.b", {d});
    L.ln2_g = ones(p + "ln2.g"), L.ln2_b = hparam(be, p + "ln2.b", {d});
    for (auto [w, name] : {std::pair{&L.wq, "wq"}, std::pair{&L.wk, "wk"}, std::pair{&L.wv, "wv"}, std::pair{&L.wo, "wo"}}) {
      *w = hparam(be, p + name, {d, d});
      normal(*w, w == &L.wo ? s_d * residual : s_d);
    }
    L.ffn = ffn_t::make<float, cpu>(be, {d, ffn_hidden}, p + "ffn.");
    normal(L.ffn[0], s_d);
    normal(L.ffn[2], residual / std::sqrt(static_cast<double>(ffn_hidden)));
    m.layers.push_back(std::move(L));
  }
  return m;
}

/// Mean cross-entropy of the answers `y` of a batch through the whole model; with `backward`,
/// accumulates every trainable gradient. `correct` (if given) counts right answers.
inline double training_loss(transformer_model& m, const token_batch& tb, const std::vector<index_type>& y, bool backward, int* correct = nullptr) {
  std::vector<layer_cache> caches;
  const mat x_mid = encode(m, tb, caches);
  auto& c = caches.back();
  auto& last = m.layers.back();
  mat ffn_cache;
  const mat h = rows_at(x_mid, tb.cls) + ffn_forward(last.ffn, c.b, &ffn_cache);
  fvec mf, rf;
  const mat z = layer_norm(h, m.lnf_g, m.lnf_b, mf, rf);
  mat dz, dlogits;
  const double loss = cross_entropy(z, y, m.w_out, dz, correct, &dlogits);
  if (!backward) return loss;
  grads_of(m.w_out).noalias() += dlogits.transpose() * z;
  const mat dh = layer_norm_grad(h, m.lnf_g, m.lnf_b, mf, rf, dz);
  mat db;
  ffn_backward(last.ffn, c.b, ffn_cache, dh, &db);
  mat dx_mid = mat::Zero(x_mid.rows(), m.d);
  for (std::size_t s = 0; s < tb.cls.size(); ++s) dx_mid.row(tb.cls[s]) = dh.row(static_cast<size_type>(s));
  encode_backward(m, tb, caches, std::move(dx_mid), db);
  return loss;
}

}  // namespace beacon::cli::edit_bench::transformer
