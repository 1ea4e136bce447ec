// SPDX-License-Identifier: Apache-2.0
#pragma once
// `beacon edit-bench`, part 1: the frozen host model (token embeddings -> masked mean-pool -> one
// residual FFN block -> output layer over answer strings), its losses and pre-training, the
// command's options, the progress bar and the CPU backend everything runs on.
#include <beacon/backend/cpu.hpp>
#include <beacon/io/adaptor_checkpoint.hpp>
#include <beacon/moe.hpp>
#include <beacon/plan.hpp>
#include <beacon/semantic.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "edit_bench.hpp"


namespace beacon::cli::edit_bench {

namespace moe = beacon::moe;
using mat = row_matrix<float>;
using ffn_t = moe::mlp_expert<activation::relu>;
using hparam = moe::parameter<float, cpu>;
using ffn_state = moe::expert_parameters<float, cpu>;  // w1, b1, w2, b2

/// The backend every step of the benchmark runs on: all hardware threads unless --threads says
/// otherwise (results are bit-identical run to run for a fixed thread count).
inline int compute_threads = cpu::default_threads();
inline cpu compute() { return cpu{compute_threads}; }

/// The host model's weights as Eigen matrices (values, and gradients of trainable ones).
inline auto values_of(const hparam& p) { return as_eigen(p.value()); }
inline auto grads_of(hparam& p) { return as_eigen(p.grad()); }
/// One AdamW step of the host model's parameters (the host model trains on one thread).
inline void adamw_step_all(beacon::adamw& opt, const std::vector<hparam*>& params) {
  opt.next_step();
  const auto c = opt.coefficients();
  for (auto* p : params) p->adamw_update(compute(), c);
}
inline void zero_grads(const std::vector<hparam*>& params) {
  for (auto* p : params) p->zero_grad(compute());
}
inline std::vector<hparam*> params_of(ffn_state& f) {
  std::vector<hparam*> p;
  for (auto& q : f) p.push_back(&q);
  return p;
}
using clock_type = std::chrono::steady_clock;

struct args {
  std::string data, json, svg, save;
  std::vector<std::string> methods;
  long long edits = 0, steps = 5, orders = 1, chunk = 0, max_iters = 150, pretrain_epochs = 400;
  long long d = 128, ffn_hidden = 512, expert_hidden = 256;
  unsigned long long seed = 0;
  double lr = 1e-2, ft_lr = 1e-3, loss_threshold = 0.05, null_threshold = 0.5;
  double anchor_threshold = 0.6;  // instance anchors: the sweep in docs/edit_bench.md (Loc >= 0.95 on both data sets)
  std::string loss = "ce";        // ce | semantic (semantic re-weighted CE + filtering by d0)
  double filter_fraction = 0.1;   // --loss semantic: drop this share of edits with the largest d0 (PERCENTILE)
  int threads = 0;                // 0 = all hardware threads
  bool quiet = false;
};

inline double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

// ---------------------------------------------------------------- progress bar (stderr, one line)
struct progress {
  bool on = true;
  double interval = ::isatty(2) ? 0.1 : 2.0;  // a log file gets fewer updates than a terminal
  clock_type::time_point last{};
  void show(const std::string& what, long long step, long long steps, long long it, double loss, bool force = false) {
    if (!on) return;
    const auto now = clock_type::now();
    if (!force && std::chrono::duration<double>(now - last).count() < interval) return;
    last = now;
    const int width = 20, filled = steps > 0 ? static_cast<int>(width * step / steps) : 0;
    std::fprintf(stderr, "\r%-22s [%s%s] step %lld/%lld  iter %4lld  loss %.4f   ", what.c_str(), std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), '.').c_str(), step, steps, it, loss);
    std::fflush(stderr);
  }
  void clear() {
    if (!on) return;
    std::fprintf(stderr, "\r%80s\r", "");
    std::fflush(stderr);
  }
};

// ---------------------------------------------------------------- host model
struct host_model {
  size_type d = 0;
  std::map<std::string, int> vocab, answer_ids;
  std::vector<std::string> answers;
  hparam emb, wout;  // V x d, A x d
  ffn_state ffn;                    // FFN0: d -> hidden -> d

  int word(const std::string& w) { return vocab.emplace(w, static_cast<int>(vocab.size())).first->second; }
  int answer(const std::string& a) {
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
  std::vector<hparam*> params() {
    std::vector<hparam*> p = {&emb, &wout};
    for (auto& q : ffn) p.push_back(&q);
    return p;
  }
};

using token_lists = std::vector<std::vector<int>>;

/// Instance embeddings: masked mean-pool of the questions' token embeddings (rows `idx` of `toks`).
inline mat pool(const host_model& h, const token_lists& toks, const std::vector<int>& idx) {
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

/// The host FFN (the library's MLP expert kernels over one group of rows): y = FFN0(x); `keep`
/// receives what ffn_backward needs.
inline mat ffn_forward(const ffn_state& f, const mat& x, mat* keep = nullptr) {
  mat local, y(x.rows(), x.cols());
  mat& cache = keep ? *keep : local;
  cache.resize(ffn_t::cached * x.rows(), f[0].rows());
  ffn_t::forward<float, cpu>(compute(), {&f}, {0, static_cast<index_type>(x.rows())}, as_view(x), as_view(cache), as_view(y));
  return y;
}
/// Accumulates the trainable FFN gradients from dy; dx (if given) receives dL/dx.
inline void ffn_backward(ffn_state& f, const mat& x, mat& cache, const mat& dy, mat* dx = nullptr) {
  if (dx) dx->resize(x.rows(), x.cols());
  ffn_t::backward<float, cpu>(compute(), {&f}, {0, static_cast<index_type>(x.rows())}, as_view(x), as_view(cache), as_view(dy),
                              dx ? as_view(*dx) : matrix_view<float>());
}

/// Mean cross-entropy of logits = H W_out^T against `y`; fills dH; counts correct argmaxes.
inline double cross_entropy(const mat& H, const std::vector<int>& y, const host_model& h, mat& dH, int* correct = nullptr, mat* dlogits_out = nullptr) {
  const auto W = values_of(h.wout);
  mat logits = H * W.transpose();
  double loss = 0;
  int ok = 0;
  const auto n = logits.rows();
  for (size_type b = 0; b < n; ++b) {
    auto row = logits.row(b);
    Eigen::Index arg = 0;
    const float m = row.maxCoeff(&arg);
    ok += arg == y[static_cast<std::size_t>(b)];
    row.array() = (row.array() - m).exp();
    const float sum = row.sum();
    row /= sum;
    loss -= std::log(std::max(row(y[static_cast<std::size_t>(b)]), 1e-30f));
    row(y[static_cast<std::size_t>(b)]) -= 1.0f;
  }
  logits /= static_cast<float>(n);
  dH.noalias() = logits * W;
  if (correct) *correct = ok;
  if (dlogits_out) *dlogits_out = std::move(logits);
  return loss / static_cast<double>(n);
}

/// Semantic re-weighted cross-entropy (docs/semantic.md; library defaults: linear weights, alpha 1,
/// self-normalised, expected embedding, cosine) of logits = H W_out^T, with W_out (answers x d, frozen)
/// as the answer embedding table. Fills dH (when given) and the per-edit distances.
inline double semantic_loss(const host_model& h, const mat& H, const std::vector<int>& y, mat* dH, std::vector<double>* distance = nullptr) {
  const auto W = values_of(h.wout);
  const mat logits = H * W.transpose();
  const auto n = logits.rows(), answers = logits.cols();
  std::vector<index_type> targets(y.begin(), y.end());
  const mat mask = mat::Ones(n, 1);
  mat grad = dH ? mat(n, answers) : mat(0, answers);
  const auto table = host_matrix(h.wout.value().data(), answers, h.d);
  const auto res = semantic::semantic_cross_entropy(compute(), as_view(logits), host_vector(static_cast<const index_type*>(targets.data()), n),
                                                    as_view(mask), table, semantic::reweight_options{}, as_view(grad));
  if (dH) dH->noalias() = grad * W;
  if (distance) *distance = res.distance;
  return res.combined.loss;
}

inline std::vector<int> predict(const mat& H, const host_model& h) {
  const mat logits = H * values_of(h.wout).transpose();
  std::vector<int> p(static_cast<std::size_t>(H.rows()));
  for (size_type b = 0; b < H.rows(); ++b) {
    Eigen::Index arg = 0;
    logits.row(b).maxCoeff(&arg);
    p[static_cast<std::size_t>(b)] = static_cast<int>(arg);
  }
  return p;
}

inline mat rows_of(const mat& m, const std::vector<int>& idx) {
  mat out(static_cast<size_type>(idx.size()), m.cols());
  for (std::size_t i = 0; i < idx.size(); ++i) out.row(static_cast<size_type>(i)) = m.row(idx[i]);
  return out;
}

struct pretrain_report {
  long long epochs = 0;
  double seconds = 0, accuracy = 0, src = 0, rephrase = 0, loc = 0;
};

/// Pre-trains every host weight on src -> pred, rephrase -> pred and loc -> loc_ans.
inline pretrain_report pretrain(host_model& h, const token_lists& toks, const std::vector<int>& labels, const args& a, progress& bar) {
  const auto t0 = clock_type::now();
  const auto N = static_cast<int>(toks.size());
  beacon::adamw opt;
  opt.lr = 5e-3;
  opt.weight_decay = 0;
  const int batch = 256;
  std::vector<int> order(static_cast<std::size_t>(N));
  std::iota(order.begin(), order.end(), 0);
  pretrain_report r;
  for (long long epoch = 0; epoch < a.pretrain_epochs; ++epoch) {
    const philox_stream rng{a.seed + 77, static_cast<std::uint64_t>(epoch) << 32};
    for (int i = N - 1; i > 0; --i) std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(static_cast<int>(rng.uniform(static_cast<std::uint64_t>(i)) * static_cast<float>(i + 1)) % (i + 1))]);
    int correct_total = 0;
    double loss_total = 0;
    for (int first = 0; first < N; first += batch) {
      const std::vector<int> idx(order.begin() + first, order.begin() + std::min(N, first + batch));
      std::vector<int> y;
      for (int i : idx) y.push_back(labels[static_cast<std::size_t>(i)]);
      zero_grads(h.params());
      const mat X = pool(h, toks, idx);
      mat cache;
      const mat H = X + ffn_forward(h.ffn, X, &cache);
      mat dH, dlogits;
      int correct = 0;
      loss_total += cross_entropy(H, y, h, dH, &correct, &dlogits) * static_cast<double>(idx.size());
      correct_total += correct;
      grads_of(h.wout).noalias() += dlogits.transpose() * H;
      mat dX;
      ffn_backward(h.ffn, X, cache, dH, &dX);
      dX += dH;
      auto G = grads_of(h.emb);
      for (std::size_t b = 0; b < idx.size(); ++b) {
        const auto& t = toks[static_cast<std::size_t>(idx[b])];
        const float inv = 1.0f / static_cast<float>(t.size());
        for (int w : t) G.row(w) += inv * dX.row(static_cast<size_type>(b));
      }
      adamw_step_all(opt, h.params());
    }
    r.epochs = epoch + 1;
    bar.show("pre-training host", 0, 1, epoch + 1, loss_total / N);
    if (correct_total == N) break;  // every original fact answered (during the epoch)
  }
  bar.clear();
  r.seconds = seconds_since(t0);
  return r;
}

}  // namespace beacon::cli::edit_bench
