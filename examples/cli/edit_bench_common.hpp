// SPDX-License-Identifier: Apache-2.0
#pragma once
// `beacon edit-bench`: what its files share — the options, the CPU backend every
// step runs on, the host FFN helpers, and `bench_host`, the frozen rest of either host model as the
// edit library sees it (edit::host_model and edit::block_host).
#include <beacon/backend/cpu.hpp>
#include <beacon/edit.hpp>
#include <beacon/edit/methods/ft.hpp>
#include <beacon/moe.hpp>
#include <beacon/semantic.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "edit_bench.hpp"
#include "progress.hpp"

namespace beacon::cli::edit_bench {

namespace moe = beacon::moe;
using mat = row_matrix<float>;
using ffn_t = moe::mlp_expert<activation::relu>;
using hparam = moe::parameter<float, cpu>;
using ffn_state = moe::expert_parameters<float, cpu>;  // w1, b1, w2, b2
using clock_type = std::chrono::steady_clock;

/// The backend every step of the benchmark runs on: all hardware threads unless --threads says
/// otherwise (results are bit-identical run to run for a fixed thread count).
inline int compute_threads = cpu::default_threads();
inline cpu compute() { return cpu{compute_threads}; }

inline double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

struct args {
  std::string data, json, svg, save;
  std::vector<std::string> methods;
  std::string host = "bow";  // bow | transformer
  long long edits = 0, steps = 5, orders = 1, chunk = 0, max_iters = 150, pretrain_epochs = 400;
  long long d = 128, ffn_hidden = 0, expert_hidden = 256;  // ffn_hidden 0: 4 d
  long long layers = 2, heads = 2;                         // --host transformer
  unsigned long long seed = 0;
  double lr = 1e-2, ft_lr = 1e-3, loss_threshold = 0.05, null_threshold = 0.5;
  double key_threshold = 0.3;     // lemoe+keys(+plan): cosine to the nearest key below which no expert is used
  double anchor_threshold = 0.6;  // instance anchors: the sweep in docs/edit_bench.md (Loc >= 0.95 on both data sets)
  std::string loss = "ce";        // ce | semantic (semantic re-weighted CE + filtering by d0)
  double filter_fraction = 0.1;   // --loss semantic: drop this share of edits with the largest d0 (PERCENTILE)
  int threads = 0;                // 0 = all hardware threads
  bool quiet = false;
  [[nodiscard]] long long ffn_width() const { return ffn_hidden > 0 ? ffn_hidden : 4 * d; }
};

// ---------------------------------------------------------------- parameters and the host FFN
inline auto values_of(const hparam& p) { return as_eigen(p.value()); }
inline auto grads_of(hparam& p) { return as_eigen(p.grad()); }
/// One AdamW step of the given parameters.
inline void adamw_step_all(beacon::adamw& opt, const std::vector<hparam*>& params) {
  opt.next_step();
  const auto c = opt.coefficients();
  for (auto* p : params) p->adamw_update(compute(), c);
}
inline void zero_grads(const std::vector<hparam*>& params) {
  for (auto* p : params) p->zero_grad(compute());
}

/// The host FFN (the library's MLP expert kernels over one group of rows): y = FFN(x); `keep`
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

/// Mean cross-entropy of logits = Z W^T against `y`; fills dZ; counts correct argmaxes; `dlogits_out`
/// receives dL/dlogits.
inline double cross_entropy(const mat& Z, const std::vector<index_type>& y, const hparam& w, mat& dZ, int* correct = nullptr, mat* dlogits_out = nullptr) {
  const auto W = values_of(w);
  mat logits = Z * W.transpose();
  double loss = 0;
  int ok = 0;
  const auto n = logits.rows();
  for (size_type b = 0; b < n; ++b) {
    auto row = logits.row(b);
    const auto t = static_cast<Eigen::Index>(y[static_cast<std::size_t>(b)]);
    Eigen::Index arg = 0;
    const float m = row.maxCoeff(&arg);
    ok += arg == t;
    row.array() = (row.array() - m).exp();
    row /= row.sum();
    loss -= std::log(std::max(row(t), 1e-30f));
    row(t) -= 1.0f;
  }
  logits /= static_cast<float>(n);
  dZ.noalias() = logits * W;
  if (correct) *correct = ok;
  if (dlogits_out) *dlogits_out = std::move(logits);
  return loss / static_cast<double>(n);
}

/// Semantic re-weighted cross-entropy (docs/semantic.md; library defaults: linear weights, alpha 1,
/// self-normalised, expected embedding, cosine) of logits = Z W^T, with W (answers x d, frozen) as the
/// answer embedding table. Fills dZ (when given) and the per-edit distances.
inline double semantic_loss(const mat& Z, const std::vector<index_type>& y, const hparam& w, mat* dZ, std::vector<double>* distance = nullptr) {
  const auto W = values_of(w);
  const mat logits = Z * W.transpose();
  const auto n = logits.rows(), answers = logits.cols();
  const mat mask = mat::Ones(n, 1);
  mat grad = dZ ? mat(n, answers) : mat(0, answers);
  const auto table = host_matrix(w.value().data(), answers, W.cols());
  const auto res = semantic::semantic_cross_entropy(compute(), as_view(logits), host_vector(y.data(), n), as_view(mask), table,
                                                    semantic::reweight_options{}, as_view(grad));
  if (dZ) dZ->noalias() = grad * W;
  if (distance) *distance = res.distance;
  return res.combined.loss;
}

// ---------------------------------------------------------------- the host as the edit library sees it
/// The frozen rest of a host model after its edited FFN block: block outputs h -> readout features
/// z = readout(h) (the identity, or the final layer norm) -> logits z W_out^T over the answers.
/// Trained with cross-entropy or (--loss semantic) the semantic re-weighted loss. Owns nothing: the
/// model it reads is kept alive by `model`.
struct bench_host {
  using scalar = float;
  using block_expert = ffn_t;
  std::shared_ptr<const void> model;
  const ffn_state* block_weights = nullptr;  // the edited FFN block (ft tunes a copy)
  const hparam* w_out = nullptr;             // answers x d
  std::function<mat(const mat&)> readout;    // empty: the identity
  std::function<mat(const mat&, const mat&)> readout_backward;  // (h, dL/dz) -> dL/dh
  bool semantic = false;

  [[nodiscard]] mat features(const mat& h) const { return readout ? readout(h) : h; }
  [[nodiscard]] double loss(const mat& h, const std::vector<index_type>& y, mat& dh) const {
    const mat z = features(h);
    mat dz;
    const double l = semantic ? semantic_loss(z, y, *w_out, &dz) : cross_entropy(z, y, *w_out, dz);
    dh = readout_backward ? readout_backward(h, dz) : dz;
    return l;
  }
  [[nodiscard]] std::vector<index_type> predict(const mat& h) const {
    const mat logits = features(h) * values_of(*w_out).transpose();
    std::vector<index_type> p(static_cast<std::size_t>(h.rows()));
    for (size_type b = 0; b < h.rows(); ++b) {
      Eigen::Index arg = 0;
      logits.row(b).maxCoeff(&arg);
      p[static_cast<std::size_t>(b)] = static_cast<index_type>(arg);
    }
    return p;
  }
  /// Per question the semantic distance d0 of target y under block outputs h.
  [[nodiscard]] std::vector<double> distances(const mat& h, const std::vector<index_type>& y) const {
    std::vector<double> d;
    semantic_loss(features(h), y, *w_out, nullptr, &d);
    return d;
  }
  [[nodiscard]] const ffn_state& block() const { return *block_weights; }
  [[nodiscard]] moe::expert_shape block_shape() const { return {(*block_weights)[0].cols(), (*block_weights)[0].rows()}; }
};
static_assert(edit::block_host<bench_host, cpu>);

}  // namespace beacon::cli::edit_bench
