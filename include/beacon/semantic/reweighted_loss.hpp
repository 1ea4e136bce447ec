// SPDX-License-Identifier: Apache-2.0
#pragma once
// Semantic re-weighted cross-entropy (spec semantic_peft.md §4): each item's (or answer token's)
// cross-entropy is weighted by a detached function of its current semantic distance to the target,
// so items drifting away from their knowledge target get more gradient; optionally the distance
// itself is added to the loss (ADDITIVE, differentiable through the expected embedding).
//
//   weights   linear(alpha)  w = 1 + alpha d          (default, alpha = 1)
//             softmax(tau)   w = B softmax(d / tau)
//             power(gamma)   w = max(d^gamma, w_min)
//   loss      self_normalised  L = sum w ce / sum w   (default)   |  mean  L = sum w ce / B
//             + additive_lambda * mean d                            (0 = off)
// Rules: an empty batch gives L = 0 and `empty`; sum w = 0 falls back to the unweighted mean.
// The CUDA overload (same arguments and result, device views) is in reweighted_loss.cuh (nvcc only);
// both share the checks and the host-side combination below.

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "../backend/contract.hpp"
#include "../backend/cpu.hpp"
#include "../backend/transfer.hpp"
#include "../core/views_of.hpp"
#include "distance.hpp"
#include "vectors.hpp"

namespace beacon::semantic {

enum class weight_scheme { linear, softmax, power };
enum class weight_normalisation { self_normalised, mean };
enum class output_vector { expected, argmax };
enum class loss_granularity { per_item, per_token };

struct reweight_options {
  weight_scheme scheme = weight_scheme::linear;
  double alpha = 1.0;  ///< linear
  double tau = 0.2;    ///< softmax temperature
  double gamma = 1.0;  ///< power exponent
  double w_min = 1e-3; ///< power floor
  weight_normalisation normalisation = weight_normalisation::self_normalised;
  double additive_lambda = 0.0;  ///< ADDITIVE: + lambda * mean d (needs output_vector::expected)
};

struct weighted_loss {
  double loss = 0;
  std::vector<double> coefficients;  ///< dL/dce_i (the weights as applied)
  std::vector<double> weights;       ///< the weights rescaled to mean 1 (for reporting)
  bool empty = false;                ///< no item: L = 0, nothing to update
  bool fell_back = false;            ///< sum of weights was 0: unweighted mean used
};

/// Combines per-item cross-entropies and (detached) distances into the loss (T8 of the spec).
inline weighted_loss combine_weighted_loss(std::span<const double> ce, std::span<const double> d, const reweight_options& o) {
  const char* fn = "combine_weighted_loss";
  if (ce.size() != d.size()) beacon::detail::fail<shape_error>(fn, "d", beacon::detail::concat("size ", ce.size()), d.size());
  if (o.scheme == weight_scheme::softmax && !(o.tau > 0)) beacon::detail::fail(fn, "tau", "> 0", o.tau);
  if (o.scheme == weight_scheme::power && !(o.w_min >= 0)) beacon::detail::fail(fn, "w_min", ">= 0", o.w_min);
  weighted_loss r;
  const std::size_t n = ce.size();
  if (n == 0) {
    r.empty = true;
    return r;
  }
  std::vector<double> w(n);
  switch (o.scheme) {
    case weight_scheme::linear:
      for (std::size_t i = 0; i < n; ++i) w[i] = 1.0 + o.alpha * d[i];
      break;
    case weight_scheme::softmax: {
      const double m = *std::max_element(d.begin(), d.end());
      double s = 0;
      for (std::size_t i = 0; i < n; ++i) s += w[i] = std::exp((d[i] - m) / o.tau);
      for (auto& v : w) v = static_cast<double>(n) * v / s;
      break;
    }
    case weight_scheme::power:
      for (std::size_t i = 0; i < n; ++i) w[i] = std::max(std::pow(d[i], o.gamma), o.w_min);
      break;
  }
  double sum_w = 0;
  for (double v : w) sum_w += v;
  if (!(sum_w > 0)) {
    std::fill(w.begin(), w.end(), 1.0);
    sum_w = static_cast<double>(n);
    r.fell_back = true;
  }
  const double denom = o.normalisation == weight_normalisation::self_normalised ? sum_w : static_cast<double>(n);
  double mean_d = 0;
  for (std::size_t i = 0; i < n; ++i) {
    r.coefficients.push_back(w[i] / denom);
    r.weights.push_back(w[i] * static_cast<double>(n) / sum_w);
    r.loss += r.coefficients.back() * ce[i];
    mean_d += d[i] / static_cast<double>(n);
  }
  r.loss += o.additive_lambda * mean_d;
  return r;
}

struct semantic_ce_result {
  weighted_loss combined;        ///< loss, coefficients, weights, flags
  std::vector<double> ce;        ///< per item (or answer token)
  std::vector<double> distance;  ///< per item (or answer token), detached
};

namespace detail {

/// Shape and option checks shared by the backends (metadata only; messages name the CPU's function).
template <class Z, class I, class M, class E, class G, class S>
void check_semantic_ce(const char* fn, const matrix_view<Z, S>& logits, const vector_view<I, S>& targets,
                       const matrix_view<M, S>& answer_mask, const matrix_view<E, S>& embedding,
                       const matrix_view<G, S>& grad_logits, const reweight_options& o, output_vector mode) {
  const size_type rows = logits.rows();
  beacon::detail::require_extent(fn, "logits", "rows (answer_mask.rows * answer_mask.cols)", rows, answer_mask.size());
  beacon::detail::require_extent(fn, "targets", "size (logits.rows)", targets.size(), rows);
  beacon::detail::require_extent(fn, "embedding", "rows (logits.cols)", embedding.rows(), logits.cols());
  if (grad_logits.rows() > 0) beacon::detail::require_same_shape(fn, "grad_logits", logits, grad_logits);
  if (o.additive_lambda != 0.0 && mode != output_vector::expected)
    beacon::detail::fail(fn, "additive_lambda", "0 unless output_vector::expected (argmax has no gradient)", o.additive_lambda);
}

/// The answer rows in row order, the item of each, and each item's answer-token count.
struct answer_layout {
  std::vector<size_type> rows, item_of_row, item_size;
  [[nodiscard]] size_type items() const noexcept { return static_cast<size_type>(item_size.size()); }
};

/// Scans rows r = b * length + l in order with the checks of the loss, in this order: an answer row
/// whose target is outside [0, vocab), then (per item) an item without an answer token.
/// is_answer(r) and target(r) read the mask and the targets wherever they live.
template <class IsAnswer, class Target>
answer_layout collect_answer_rows(const char* fn, size_type sequences, size_type length, size_type vocab, loss_granularity granularity,
                                  IsAnswer&& is_answer, Target&& target) {
  answer_layout a;
  for (size_type b = 0; b < sequences; ++b) {
    size_type count = 0;
    for (size_type l = 0; l < length; ++l) {
      const size_type r = b * length + l;
      if (!is_answer(r)) continue;
      const auto y = target(r);
      if (y < 0 || y >= vocab)
        beacon::detail::fail(fn, "targets", beacon::detail::concat("token ids in [0, ", vocab, ")"), beacon::detail::concat(y, " at row ", r));
      a.rows.push_back(r);
      a.item_of_row.push_back(a.items());
      if (granularity == loss_granularity::per_token) a.item_size.push_back(1);
      ++count;
    }
    if (granularity == loss_granularity::per_item) {
      if (count == 0)
        beacon::detail::fail(fn, "answer_mask", "at least one answer token per item", beacon::detail::concat("an empty row ", b));
      a.item_size.push_back(count);
    }
  }
  return a;
}

[[noreturn]] inline void fail_non_finite_row(const char* fn, size_type row) {
  beacon::detail::fail(fn, "logits", "finite values on answer rows", beacon::detail::concat("a NaN or Inf in row ", row));
}

/// ce_i = mean over item i's answer rows of ce_of_answer(a), summed in row order.
template <class CeOfAnswer>
std::vector<double> item_cross_entropy(const answer_layout& a, CeOfAnswer&& ce_of_answer) {
  std::vector<double> ce(a.item_size.size(), 0.0);
  for (std::size_t k = 0; k < a.rows.size(); ++k) ce[static_cast<std::size_t>(a.item_of_row[k])] += ce_of_answer(k);
  for (std::size_t i = 0; i < ce.size(); ++i) ce[i] /= static_cast<double>(a.item_size[i]);
  return ce;
}

}  // namespace detail

namespace kernels {

/// Grid: answer rows. finite[a] = 1 when row a of the gathered logits has no NaN or Inf, else 0.
template <class T, class S>
struct row_all_finite {
  matrix_view<const T, S> z;
  vector_view<T, S> finite;
  BEACON_HD void operator()(size_type a) const {
    T ok = T(1);
    for (size_type v = 0; v < z.cols(); ++v) {
      const T x = z(a, v);
      if (!(x - x == T(0))) ok = T(0);  // NaN and +-Inf fail x - x == 0
    }
    finite[a] = ok;
  }
};

/// Grid: answer rows. picked[a] = z(a, y[a]).
template <class T, class S>
struct pick_target {
  matrix_view<const T, S> z;
  vector_view<const index_type, S> y;
  vector_view<T, S> picked;
  BEACON_HD void operator()(size_type a) const { picked[a] = z(a, y[a]); }
};

/// Grid: answer rows x vocab. In place on the probabilities p: the gradient of the loss,
/// c[a] (p - onehot(y[a])) + additive[a] p (eg(v, item[a]) - og[a]) (additive may be empty).
template <class T, class S>
struct loss_gradient {
  matrix_view<T, S> p;
  vector_view<const index_type, S> y, item;
  vector_view<const T, S> c, additive, og;
  matrix_view<const T, S> eg;
  BEACON_HD void operator()(size_type a, size_type v) const {
    const T prob = p(a, v);
    T g = c[a] * prob - (v == y[a] ? c[a] : T(0));
    if (additive.size() > 0) g += additive[a] * prob * (eg(v, item[a]) - og[a]);
    p(a, v) = g;
  }
};

}  // namespace kernels

/// What the generic semantic loss needs from a backend.
template <class B, class T>
concept semantic_loss_backend = memory_primitives<B, T> && memory_primitives<B, index_type> && elementwise_primitives<B, T> &&
                                reduction_primitives<B, T> && gemm_primitives<B, T> && row_primitives<B, T>;

/// The same loss (same arguments, result and errors as the CPU overload below) written once over
/// the backend contract, for any backend without a fused path (the tests' reference backend, a
/// user's own). The answer rows' logits are gathered, so it holds two (answers x V) arrays; mask
/// and targets are read on the host once, per-item vectors and per-row cross-entropies cross to
/// the host once, and nothing synchronises per chunk.
template <backend B, class Z, class I, class M, class E, class G>
  requires semantic_loss_backend<B, std::remove_const_t<Z>> && same_element<Z, E> && same_element<Z, G> && same_element<I, index_type>
semantic_ce_result semantic_cross_entropy(const B& be, matrix_view<Z, space_of<B>> logits, vector_view<I, space_of<B>> targets,
                                          matrix_view<M, space_of<B>> answer_mask, matrix_view<E, space_of<B>> embedding,
                                          const reweight_options& o, matrix_view<G, space_of<B>> grad_logits,
                                          loss_granularity granularity = loss_granularity::per_item,
                                          output_vector mode = output_vector::expected, const distance_options& dist = {}) {
  using T = std::remove_const_t<Z>;
  using space = space_of<B>;
  const char* fn = "semantic_cross_entropy";
  detail::check_semantic_ce(fn, logits, targets, answer_mask, embedding, grad_logits, o, mode);
  const size_type vocab = logits.cols(), dim = embedding.cols(), length = answer_mask.cols();
  const bool want_grad = grad_logits.rows() > 0, additive = o.additive_lambda != 0.0;
  const auto host_mask = download(be, answer_mask);
  const auto host_targets = download(be, vector_view<const index_type, space>(targets.data(), targets.size()));
  const detail::answer_layout layout = detail::collect_answer_rows(
      fn, answer_mask.rows(), length, vocab, granularity,
      [&](size_type r) { return host_mask[static_cast<std::size_t>(r)] != std::remove_const_t<M>(0); },
      [&](size_type r) { return host_targets[static_cast<std::size_t>(r)]; });
  const auto answers = static_cast<size_type>(layout.rows.size());
  const size_type items = layout.items();
  semantic_ce_result res;
  res.distance.assign(static_cast<std::size_t>(items), 0.0);
  if (want_grad) fill(be, T(0), grad_logits);
  if (answers == 0) {
    res.combined = combine_weighted_loss(res.ce, res.distance, o);
    return res;
  }

  // Host-side index arrays, uploaded once: answer rows, their targets and items, item offsets.
  std::vector<index_type> rows(layout.rows.begin(), layout.rows.end()), y(static_cast<std::size_t>(answers)),
      item(layout.item_of_row.begin(), layout.item_of_row.end()), offsets(1, 0);
  for (size_type a = 0; a < answers; ++a) y[static_cast<std::size_t>(a)] = host_targets[static_cast<std::size_t>(rows[static_cast<std::size_t>(a)])];
  for (const size_type m : layout.item_size) offsets.push_back(offsets.back() + static_cast<index_type>(m));
  auto rows_d = make_buffer<index_type>(be, answers), y_d = make_buffer<index_type>(be, answers), item_d = make_buffer<index_type>(be, answers),
       offsets_d = make_buffer<index_type>(be, items + 1);
  upload(be, rows, rows_d.view());
  upload(be, y, y_d.view());
  upload(be, item, item_d.view());
  upload(be, offsets, offsets_d.view());
  const vector_view<const index_type, space> rows_v(rows_d.view()), y_v(y_d.view()), item_v(item_d.view()), offsets_v(offsets_d.view());

  // Gathered answer logits, their finiteness, log-sum-exp and target logit.
  auto probs_b = make_buffer<T>(be, answers * vocab);
  const auto probs = probs_b.matrix(answers, vocab);
  gather_rows(be, logits, rows_v, probs);
  auto row_b = make_buffer<T>(be, 3 * answers);  // finite flags, log-sum-exp, target logits
  const vector_view<T, space> finite(row_b.view().data(), answers), lse(row_b.view().data() + answers, answers),
      zy(row_b.view().data() + 2 * answers, answers);
  for_each_index(be, answers, kernels::row_all_finite<T, space>{probs, finite}, vocab);
  const auto host_finite = download(be, vector_view<const T, space>(finite));
  for (size_type a = 0; a < answers; ++a)
    if (host_finite[static_cast<std::size_t>(a)] == T(0)) detail::fail_non_finite_row(fn, rows[static_cast<std::size_t>(a)]);
  row_logsumexp(be, matrix_view<const T, space>(probs), lse);
  for_each_index(be, answers, kernels::pick_target<T, space>{probs, y_v, zy});

  // Output vectors per answer row (expected: P E; argmax: E[argmax z]) and target vectors E[y].
  auto vec_b = make_buffer<T>(be, 2 * answers * dim + 2 * items * dim);
  const auto out_rows = matrix_view<T, space>(vec_b.view().data(), answers, dim);
  const auto tgt_rows = matrix_view<T, space>(vec_b.view().data() + answers * dim, answers, dim);
  const auto out_items = matrix_view<T, space>(vec_b.view().data() + 2 * answers * dim, items, dim);
  const auto tgt_items = matrix_view<T, space>(vec_b.view().data() + 2 * answers * dim + items * dim, items, dim);
  if (mode == output_vector::argmax) {
    auto best = make_buffer<index_type>(be, answers);
    row_argmax(be, matrix_view<const T, space>(probs), best.view());
    gather_rows(be, embedding, vector_view<const index_type, space>(best.view()), out_rows);
  }
  row_softmax(be, matrix_view<const T, space>(probs), probs);
  if (mode == output_vector::expected)
    gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, space>(probs), embedding, T(0), out_rows);
  gather_rows(be, embedding, y_v, tgt_rows);
  segment_sum_rows(be, matrix_view<const T, space>(out_rows), offsets_v, out_items);
  segment_sum_rows(be, matrix_view<const T, space>(tgt_rows), offsets_v, tgt_items);

  // The host part: per-item cross-entropies, distances and the weighted combination.
  const auto host_lse = download(be, vector_view<const T, space>(lse));
  const auto host_zy = download(be, vector_view<const T, space>(zy));
  auto host_out = download(be, matrix_view<const T, space>(out_items));
  auto host_tgt = download(be, matrix_view<const T, space>(tgt_items));
  res.ce = detail::item_cross_entropy(layout, [&](std::size_t a) {
    return static_cast<double>(host_lse[a]) - static_cast<double>(host_zy[a]);
  });
  std::vector<double> out_vec(static_cast<std::size_t>(items * dim)), tgt_vec(out_vec.size());
  for (size_type i = 0; i < items; ++i)
    for (size_type j = 0; j < dim; ++j) {
      const auto k = static_cast<std::size_t>(i * dim + j);
      const double m = static_cast<double>(layout.item_size[static_cast<std::size_t>(i)]);
      out_vec[k] = static_cast<double>(host_out[k]) / m;
      tgt_vec[k] = static_cast<double>(host_tgt[k]) / m;
    }
  for (size_type i = 0; i < items; ++i)
    res.distance[static_cast<std::size_t>(i)] = semantic_distance(out_vec.data() + i * dim, tgt_vec.data() + i * dim, dim, dist);
  res.combined = combine_weighted_loss(res.ce, res.distance, o);
  if (!want_grad) return res;

  // The gradient on the answer rows, in place on the probabilities, scattered into grad_logits.
  std::vector<T> c(static_cast<std::size_t>(answers)), add(additive ? static_cast<std::size_t>(answers) : 0);
  for (size_type a = 0; a < answers; ++a) {
    const auto i = static_cast<std::size_t>(item[static_cast<std::size_t>(a)]);
    const double m = static_cast<double>(layout.item_size[i]);
    c[static_cast<std::size_t>(a)] = static_cast<T>(res.combined.coefficients[i] / m);
    if (additive) add[static_cast<std::size_t>(a)] = static_cast<T>(o.additive_lambda / static_cast<double>(items) / m);
  }
  auto coef_b = make_buffer<T>(be, 3 * answers);
  const vector_view<T, space> c_d(coef_b.view().data(), answers), add_d(coef_b.view().data() + answers, additive ? answers : 0),
      og_d(coef_b.view().data() + 2 * answers, additive ? answers : 0);
  upload(be, c, c_d);
  auto eg_b = make_buffer<T>(be, additive ? vocab * items + items * dim + answers * dim : 0);
  matrix_view<T, space> eg;
  if (additive) {
    upload(be, add, add_d);
    // g_i = dd/do at item i; eg = E g^T (V x items); og[a] = o_a . g_item(a).
    std::vector<double> g(static_cast<std::size_t>(items * dim));
    for (size_type i = 0; i < items; ++i)
      semantic_distance_gradient(out_vec.data() + i * dim, tgt_vec.data() + i * dim, dim, g.data() + i * dim, dist);
    const std::vector<T> gt(g.begin(), g.end());
    eg = matrix_view<T, space>(eg_b.view().data(), vocab, items);
    const auto g_items = matrix_view<T, space>(eg_b.view().data() + vocab * items, items, dim);
    const auto g_rows = matrix_view<T, space>(eg_b.view().data() + vocab * items + items * dim, answers, dim);
    upload(be, gt, vector_view<T, space>(g_items.data(), items * dim));
    gemm(be, transpose::no, transpose::yes, T(1), embedding, matrix_view<const T, space>(g_items), T(0), eg);
    gather_rows(be, matrix_view<const T, space>(g_items), item_v, g_rows);
    row_dot(be, matrix_view<const T, space>(out_rows), matrix_view<const T, space>(g_rows), og_d);
  }
  for_each_element(be, answers, vocab,
                   kernels::loss_gradient<T, space>{probs, y_v, item_v, c_d, add_d, og_d, matrix_view<const T, space>(eg)});
  scatter_rows(be, matrix_view<const T, space>(probs), rows_v, grad_logits);
  return res;
}

/// The full loss on logits. logits: (B*L) x V (row b*L + l predicts token targets[b*L + l]);
/// answer_mask: B x L (nonzero = an answer token: prompt tokens are masked out); E: V x D frozen.
/// Per item: ce_i = mean CE over its answer tokens; o_i = mean expected (or argmax) embedding of
/// those rows; target vector = mean E[y] over them; d_i = d(o_i, target_i). Per token: each answer
/// token is an item. With `grad_logits` ((B*L) x V, may be empty) the gradient dL/dlogits is
/// written (0 on prompt rows); it is used as the probability buffer first, so no B*L x V array is
/// materialised twice.
template <class Z, class I, class M, class E, class G>
semantic_ce_result semantic_cross_entropy(const cpu& be, matrix_view<Z, host_space> logits, vector_view<I, host_space> targets,
                                          matrix_view<M, host_space> answer_mask, matrix_view<E, host_space> embedding,
                                          const reweight_options& o, matrix_view<G, host_space> grad_logits,
                                          loss_granularity granularity = loss_granularity::per_item,
                                          output_vector mode = output_vector::expected, const distance_options& dist = {}) {
  static_assert(same_element<Z, E>,
                "beacon::semantic::semantic_cross_entropy: argument 'embedding' expected the logits' element type (float logits with a float "
                "table, double with double); convert one of them, e.g. beacon::cast_elements<float>");
  static_assert(same_element<Z, G>, "beacon::semantic::semantic_cross_entropy: argument 'grad_logits' expected the logits' element type");
  static_assert(same_element<I, index_type>,
                "beacon::semantic::semantic_cross_entropy: argument 'targets' expected int32 token ids (beacon::index_type); convert with "
                "beacon::cast_elements<beacon::index_type>");
  using T = std::remove_const_t<Z>;
  const char* fn = "semantic_cross_entropy";
  detail::check_semantic_ce(fn, logits, targets, answer_mask, embedding, grad_logits, o, mode);
  const size_type vocab = logits.cols(), dim = embedding.cols();
  const bool want_grad = grad_logits.rows() > 0;

  // Answer rows and their items.
  const detail::answer_layout layout = detail::collect_answer_rows(
      fn, answer_mask.rows(), answer_mask.cols(), vocab, granularity,
      [&](size_type r) { return answer_mask(r / answer_mask.cols(), r % answer_mask.cols()) != M(0); },
      [&](size_type r) { return targets[r]; });
  const std::vector<size_type>& answer_rows = layout.rows;
  const std::vector<size_type>& item_of_row = layout.item_of_row;
  const std::vector<size_type>& item_size = layout.item_size;
  const auto items = static_cast<size_type>(item_size.size());
  semantic_ce_result res;
  res.distance.assign(static_cast<std::size_t>(items), 0.0);
  if (want_grad) fill(be, G(0), grad_logits);

  // Pass 1, in chunks of answer rows: softmax into a bounded chunk buffer (copied into the gradient
  // buffer when one is given), CE, and the output vectors.
  std::vector<double> out_vec(static_cast<std::size_t>(items * dim), 0.0), tgt_vec(static_cast<std::size_t>(items * dim), 0.0);
  std::vector<double> row_o;  // per answer row o_r = E^T p_r (needed by the additive gradient)
  const bool additive = o.additive_lambda != 0.0;
  if (additive) row_o.assign(answer_rows.size() * static_cast<std::size_t>(dim), 0.0);
  const size_type chunk = std::max<size_type>(1, static_cast<size_type>((std::size_t{32} << 20) / (sizeof(T) * static_cast<std::size_t>(std::max<size_type>(vocab, 1)))));
  std::vector<T> prob_chunk, o_chunk;
  // pool_first (EXPECTED without the additive term): pooled probability rows, one per item, up to
  // 256 MiB, and the GEMM that turns them into output vectors (added into out_vec).
  const bool pool_first = mode == output_vector::expected && !additive;
  const size_type pooled_capacity =
      pool_first ? std::max<size_type>(1, static_cast<size_type>((std::size_t{256} << 20) / (sizeof(T) * static_cast<std::size_t>(std::max<size_type>(vocab, 1))))) : 0;
  std::vector<T> pooled_chunk(pool_first ? static_cast<std::size_t>(std::min(pooled_capacity, items) * vocab) : 0), pooled_o;
  std::vector<size_type> pooled_item(pool_first ? static_cast<std::size_t>(std::min(pooled_capacity, items)) : 0);
  size_type pooled_rows = 0;
  auto flush_pooled = [&] {
    if (pooled_rows == 0) return;
    pooled_o.resize(static_cast<std::size_t>(pooled_rows * dim));
    const auto pv = host_matrix(pooled_o.data(), pooled_rows, dim);
    gemm(be, transpose::no, transpose::no, T(1), host_matrix<const T>(pooled_chunk.data(), pooled_rows, vocab), embedding, T(0), pv);
    for (size_type q = 0; q < pooled_rows; ++q)
      for (size_type j = 0; j < dim; ++j)
        out_vec[static_cast<std::size_t>(pooled_item[static_cast<std::size_t>(q)] * dim + j)] += static_cast<double>(pv(q, j));
    pooled_rows = 0;
  };
  std::vector<double> row_ce(answer_rows.size());
  size_type bad = beacon::detail::no_bad_row;
  for (std::size_t first = 0; first < answer_rows.size(); first += static_cast<std::size_t>(chunk)) {
    const auto n = static_cast<size_type>(std::min<std::size_t>(static_cast<std::size_t>(chunk), answer_rows.size() - first));
    prob_chunk.resize(static_cast<std::size_t>(n * vocab));
    if (!pool_first) o_chunk.resize(static_cast<std::size_t>(n * dim));  // per-row output vectors
    auto probs = host_matrix(prob_chunk.data(), n, vocab);
    // Vectorised row softmax: Eigen's packet exp in the logits' type (one exp per logit), the sum
    // and the CE in double, the row max and finiteness check as reductions; the exponentials are
    // kept in a per-thread row buffer.
#pragma omp parallel num_threads(be.threads_for(n * vocab))
    {
      Eigen::Array<T, 1, Eigen::Dynamic> ex(vocab);
#pragma omp for schedule(static) reduction(min : bad)
      for (size_type i = 0; i < n; ++i) {
        const size_type r = answer_rows[first + static_cast<std::size_t>(i)];
        const Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>> z(logits.row(r), vocab);
        if (!z.isFinite().all()) {
          bad = std::min(bad, r);
          continue;
        }
        const T m = z.maxCoeff();
        ex = (z - m).exp();
        const double s = ex.template cast<double>().sum();
        row_ce[first + static_cast<std::size_t>(i)] = static_cast<double>(m) + std::log(s) - static_cast<double>(z(targets[r]));
        Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>> p(probs.row(i), vocab);
        p = ex * static_cast<T>(1.0 / s);
        if (want_grad) Eigen::Map<Eigen::Array<G, 1, Eigen::Dynamic>>(grad_logits.row(r), vocab) = p.template cast<G>();
      }
    }
    if (bad != beacon::detail::no_bad_row) break;
    auto ov = host_matrix(o_chunk.data(), pool_first ? 0 : n, dim);  // unused when pooling
    if (pool_first) {
      // Only the items' mean output vectors are needed: E^T is linear, so each item's probability
      // rows are summed into one pooled row (an item's rows may span chunks), and the GEMM runs on
      // the pooled rows, a factor of the item length fewer FLOPs, when the pooled block is full.
      for (size_type i = 0; i < n; ++i) {
        const size_type item = item_of_row[first + static_cast<std::size_t>(i)];
        const Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>> src(probs.row(i), vocab);
        if (pooled_rows > 0 && pooled_item[static_cast<std::size_t>(pooled_rows - 1)] == item) {
          Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>(pooled_chunk.data() + (pooled_rows - 1) * vocab, vocab) += src;
          continue;
        }
        if (pooled_rows == pooled_capacity) flush_pooled();
        Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>(pooled_chunk.data() + pooled_rows * vocab, vocab) = src;
        pooled_item[static_cast<std::size_t>(pooled_rows++)] = item;
      }
    } else if (mode == output_vector::expected) {
      gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, host_space>(probs), embedding, T(0), ov);
    } else {
      for (size_type i = 0; i < n; ++i) {
        const index_type best = beacon::detail::row_arg_extreme(logits.row(answer_rows[first + static_cast<std::size_t>(i)]), vocab, true);
        for (size_type j = 0; j < dim; ++j) ov(i, j) = static_cast<T>(embedding(best, j));
      }
    }
    for (size_type i = 0; i < n; ++i) {
      const std::size_t a = first + static_cast<std::size_t>(i);
      const size_type r = answer_rows[a], item = item_of_row[a];
      for (size_type j = 0; j < dim; ++j) {
        if (!pool_first) out_vec[static_cast<std::size_t>(item * dim + j)] += static_cast<double>(ov(i, j));
        tgt_vec[static_cast<std::size_t>(item * dim + j)] += static_cast<double>(embedding(targets[r], j));
        if (additive) row_o[a * static_cast<std::size_t>(dim) + static_cast<std::size_t>(j)] = static_cast<double>(ov(i, j));
      }
    }
  }
  if (bad != beacon::detail::no_bad_row) detail::fail_non_finite_row(fn, bad);
  flush_pooled();
  res.ce = detail::item_cross_entropy(layout, [&](std::size_t a) { return row_ce[a]; });
  for (size_type item = 0; item < items; ++item) {
    const double m = static_cast<double>(item_size[static_cast<std::size_t>(item)]);
    for (size_type j = 0; j < dim; ++j) {
      out_vec[static_cast<std::size_t>(item * dim + j)] /= m;
      tgt_vec[static_cast<std::size_t>(item * dim + j)] /= m;
    }
    res.distance[static_cast<std::size_t>(item)] =
        semantic_distance(out_vec.data() + item * dim, tgt_vec.data() + item * dim, dim, dist);
  }
  res.combined = combine_weighted_loss(res.ce, res.distance, o);
  if (!want_grad || items == 0) return res;

  // Pass 2: the gradient in place. CE part: c_i / m_i (p - onehot). ADDITIVE part:
  // (lambda / items) (1 / m_i) p (E g_i - o_r . g_i), g_i = dd/do at item i.
  std::vector<double> g(additive ? static_cast<std::size_t>(items * dim) : 0);
  if (additive)
    for (size_type item = 0; item < items; ++item)
      semantic_distance_gradient(out_vec.data() + item * dim, tgt_vec.data() + item * dim, dim, g.data() + item * dim, dist);
  const auto answers = static_cast<std::ptrdiff_t>(answer_rows.size());
#pragma omp parallel for num_threads(be.threads_for(answers * vocab)) schedule(static)
  for (std::ptrdiff_t ai = 0; ai < answers; ++ai) {
    const auto a = static_cast<std::size_t>(ai);
    const size_type r = answer_rows[a], item = item_of_row[a];
    const double m = static_cast<double>(item_size[static_cast<std::size_t>(item)]);
    const double c = res.combined.coefficients[static_cast<std::size_t>(item)] / m;
    G* gr = grad_logits.row(r);
    if (additive) {
      const double* gi = g.data() + item * dim;
      double og = 0;
      for (size_type j = 0; j < dim; ++j) og += row_o[a * static_cast<std::size_t>(dim) + static_cast<std::size_t>(j)] * gi[j];
      const double scale = o.additive_lambda / static_cast<double>(items) / m;
      for (size_type v = 0; v < vocab; ++v) {
        double e_dot_g = 0;
        for (size_type j = 0; j < dim; ++j) e_dot_g += static_cast<double>(embedding(v, j)) * gi[j];
        const double p = static_cast<double>(gr[v]);
        gr[v] = static_cast<G>(c * p + scale * p * (e_dot_g - og));
      }
    } else {
      for (size_type v = 0; v < vocab; ++v) gr[v] = static_cast<G>(c * static_cast<double>(gr[v]));
    }
    gr[targets[r]] = static_cast<G>(static_cast<double>(gr[targets[r]]) - c);
  }
  return res;
}

namespace detail {
template <class L, class Tg, class M, class Em>
void check_front_door() {
  static_assert(matrix_like<const L&>,
                "beacon::semantic::semantic_cross_entropy: argument 'logits' expected a (B*L) x V matrix (matrix_view, a row-major Eigen matrix)");
  static_assert(is_matrix_of<Em, matrix_element_t<const L>>(),
                "beacon::semantic::semantic_cross_entropy: argument 'embedding' expected a V x D matrix of the logits' element type (float logits "
                "with a float table, double with double); convert one of them, e.g. beacon::cast_elements<float>");
  static_assert(is_vector_of<Tg, index_type>(),
                "beacon::semantic::semantic_cross_entropy: argument 'targets' expected a contiguous range of int32 token ids (beacon::index_type: "
                "std::vector<int32_t>, std::span, an Eigen vector); convert others with beacon::cast_elements<beacon::index_type>");
  static_assert(matrix_like<const M&>, "beacon::semantic::semantic_cross_entropy: argument 'answer_mask' expected a B x L matrix");
}
}  // namespace detail

/// The loss alone (no gradient buffer), with what the caller holds: views, row-major Eigen matrices,
/// std::vector / std::span / Eigen targets. Same result as the overloads above with an empty
/// grad_logits. (On beacon::cuda pass device views to the overload with grad_logits for the fused
/// path; this one runs the backend-generic loss there.)
template <class B, class L, class Tg, class M, class Em>
semantic_ce_result semantic_cross_entropy(const B& be, const L& logits, const Tg& targets, const M& answer_mask, const Em& embedding,
                                          const reweight_options& o, loss_granularity granularity = loss_granularity::per_item,
                                          output_vector mode = output_vector::expected, const distance_options& dist = {}) {
  detail::check_front_door<L, Tg, M, Em>();
  using T = matrix_element_t<const L>;
  using space = space_of<B>;
  return semantic_cross_entropy(be, matrix_view<const T, space>(matrix_of(logits)), vector_view<const index_type, space>(vector_of(targets)),
                                matrix_of(answer_mask), matrix_view<const T, space>(matrix_of(embedding)), o, matrix_view<T, space>{}, granularity,
                                mode, dist);
}

/// With the gradient, and with what the caller holds (any argument not a beacon view).
template <class B, class L, class Tg, class M, class Em, class G>
  requires(matrix_like<G &> && !(beacon::detail::is_view_v<L> && beacon::detail::is_view_v<Tg> && beacon::detail::is_view_v<M> &&
                                  beacon::detail::is_view_v<Em> && beacon::detail::is_view_v<G>))
semantic_ce_result semantic_cross_entropy(const B& be, const L& logits, const Tg& targets, const M& answer_mask, const Em& embedding,
                                          const reweight_options& o, G&& grad_logits, loss_granularity granularity = loss_granularity::per_item,
                                          output_vector mode = output_vector::expected, const distance_options& dist = {}) {
  detail::check_front_door<L, Tg, M, Em>();
  using T = matrix_element_t<const L>;
  static_assert(is_matrix_of<std::remove_reference_t<G>, T>() && !std::is_const_v<std::remove_reference_t<G>>,
                "beacon::semantic::semantic_cross_entropy: argument 'grad_logits' expected a writable matrix of the logits' element type");
  using space = space_of<B>;
  return semantic_cross_entropy(be, matrix_view<const T, space>(matrix_of(logits)), vector_view<const index_type, space>(vector_of(targets)),
                                matrix_of(answer_mask), matrix_view<const T, space>(matrix_of(embedding)), o, matrix_view<T, space>(matrix_of(grad_logits)),
                                granularity, mode, dist);
}

}  // namespace beacon::semantic
