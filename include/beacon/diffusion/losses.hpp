// SPDX-License-Identifier: Apache-2.0
#pragma once
// The training loss terms of the DiffuSeq/InfoDiffusion reference, per example (B examples of L
// token rows of dimension d; every mean runs over all L*d values, source and padding included):
//   mse         = mean ||x0 - x0_hat||^2, with target E[w] instead of x0 where t == 0
//   tT          = mean ||sqrt(alpha_bar_{T-1}) x0||^2   (prior matching; tiny)
//   decoder_nll = mean over the L positions of CE(x0 E^T + bias, w)   (rounding term)
//   total       = mse + decoder_nll + tT
// Written once over the backend: the tensor work (selects, GEMM logits, log-sum-exp, row dots) runs
// on the backend, per-row results are summed per example on the host in double.

#include <cmath>
#include <span>
#include <vector>

#include "../backend/checks.hpp"
#include "../backend/transfer.hpp"
#include "../core/backend.hpp"
#include "../core/gemm_shape.hpp"
#include "../core/philox.hpp"
#include "../core/workspace.hpp"
#include "schedule.hpp"

namespace beacon::diffusion {

struct diffusion_loss_terms {
  std::vector<double> mse, tT, decoder_nll, total;  ///< one value per example
};

/// The loss terms on any backend. x0, x0_hat, clean (E[w]): (B*L) x d; embedding V x d; bias V;
/// ids (B*L) target tokens; t (host) one timestep per example. Per-row results cross to the host
/// (B*L values); tensors stay on the backend; logits are formed a chunk of rows at a time.
template <backend B, class X0, class XH, class CL, class E, class Bias, class I>
diffusion_loss_terms diffusion_losses(const B& be, const schedule_tables& schedule, std::span<const index_type> t,
                                      matrix_view<X0, typename B::memory_space> x0, matrix_view<XH, typename B::memory_space> x0_hat,
                                      matrix_view<CL, typename B::memory_space> clean, matrix_view<E, typename B::memory_space> embedding,
                                      vector_view<Bias, typename B::memory_space> bias, vector_view<I, typename B::memory_space> ids) {
  using T = std::remove_const_t<X0>;
  using space = typename B::memory_space;
  const char* fn = "diffusion_losses";
  const auto batch = static_cast<size_type>(t.size());
  if (batch < 1) beacon::detail::fail(fn, "t", "at least one example", "an empty batch");
  if (x0.rows() % batch != 0)
    beacon::detail::fail<shape_error>(fn, "x0", beacon::detail::concat("rows divisible by the batch size ", batch), x0.rows());
  beacon::detail::require_same_shape(fn, "x0_hat", x0, x0_hat);
  beacon::detail::require_same_shape(fn, "clean", x0, clean);
  beacon::detail::require_extent(fn, "embedding", "cols (x0.cols)", embedding.cols(), x0.cols());
  beacon::detail::require_extent(fn, "bias", "size (embedding.rows)", bias.size(), embedding.rows());
  beacon::detail::require_extent(fn, "ids", "size (x0.rows)", ids.size(), x0.rows());
  const size_type rows = x0.rows(), length = rows / batch, dim = x0.cols(), vocab = embedding.rows();
  for (size_type b = 0; b < batch; ++b)
    if (t[static_cast<std::size_t>(b)] < 0 || t[static_cast<std::size_t>(b)] >= schedule.steps())
      beacon::detail::fail(fn, "t", beacon::detail::concat("timesteps in [0, ", schedule.steps(), ")"),
                           beacon::detail::concat(t[static_cast<std::size_t>(b)], " for example ", b));
  const auto host_ids = download(be, vector_view<const index_type, space>(ids));
  for (size_type r = 0; r < rows; ++r)
    if (host_ids[static_cast<std::size_t>(r)] < 0 || host_ids[static_cast<std::size_t>(r)] >= vocab)
      beacon::detail::fail(fn, "ids", beacon::detail::concat("token ids in [0, ", vocab, ")"),
                           beacon::detail::concat(host_ids[static_cast<std::size_t>(r)], " at row ", r));
  const auto host_bias = download(be, vector_view<const T, space>(bias));

  const size_type chunk = std::max<size_type>(1, std::min<size_type>(rows, static_cast<size_type>((std::size_t{32} << 20) / (sizeof(T) * static_cast<std::size_t>(vocab)))));
  auto arena = be.scratch(workspace_layout()
                              .template add<T>(rows * dim)     // target - x0_hat
                              .template add<T>(rows)           // per-row sums
                              .template add<T>(rows)           // per-row |x0|^2
                              .template add<T>(3 * rows)       // selection coefficients
                              .template add<T>(chunk * vocab)  // logits chunk
                              .template add<T>(chunk * dim)    // E[y] chunk
                              .template add<index_type>(chunk) // zeros (bias broadcast)
                              .template add<T>(chunk)          // log-sum-exp
                              .template add<T>(chunk)          // z_y - bias_y
                              .bytes());
  auto diff = arena.template take<T>(rows * dim).as_matrix(rows, dim);
  auto sq_err = arena.template take<T>(rows);
  auto sq_x0 = arena.template take<T>(rows);
  auto coef = arena.template take<T>(3 * rows);
  auto logits_all = arena.template take<T>(chunk * vocab);
  auto ey_all = arena.template take<T>(chunk * dim);
  auto zeros = arena.template take<index_type>(chunk);
  auto lse_all = arena.template take<T>(chunk);
  auto zy_all = arena.template take<T>(chunk);

  // mse: target is x0, or E[w] where t == 0 (a per-row select), minus x0_hat.
  std::vector<T> sel(static_cast<std::size_t>(3 * rows), T(0));
  for (size_type r = 0; r < rows; ++r) {
    const bool at_zero = t[static_cast<std::size_t>(r / length)] == 0;
    sel[static_cast<std::size_t>(r)] = at_zero ? T(0) : T(1);
    sel[static_cast<std::size_t>(rows + r)] = at_zero ? T(1) : T(0);
  }
  upload(be, sel, coef);
  const vector_view<const T, space> keep(coef.data(), rows), take_clean(coef.data() + rows, rows), none(coef.data() + 2 * rows, rows);
  row_axpbypcz_noise(be, keep, x0, take_clean, clean, none, philox_stream{}, diff);
  axpby(be, T(1), matrix_view<const T, space>(diff), T(-1), x0_hat, diff);
  row_dot(be, matrix_view<const T, space>(diff), matrix_view<const T, space>(diff), sq_err);
  row_dot(be, x0, x0, sq_x0);

  // decoder_nll: CE(x0 E^T + bias, w) = logsumexp - (x0 . E[w] + bias[w]), a chunk of rows at a time.
  std::vector<double> ce(static_cast<std::size_t>(rows));
  fill(be, index_type{0}, zeros.as_matrix(chunk, 1));
  const matrix_view<const T, space> bias_row(bias.data(), 1, vocab);
  for (size_type first = 0; first < rows; first += chunk) {
    const size_type n = std::min(chunk, rows - first);
    auto logits = logits_all.as_matrix(chunk, vocab).row_block(0, n);
    gather_rows(be, bias_row, vector_view<const index_type, space>(zeros.data(), n), logits);
    gemm(be, transpose::no, transpose::yes, T(1), x0.row_block(first, n), embedding, T(1), logits);
    auto lse = vector_view<T, space>(lse_all.data(), n);
    row_logsumexp(be, matrix_view<const T, space>(logits), lse);
    auto ey = ey_all.as_matrix(chunk, dim).row_block(0, n);
    gather_rows(be, embedding, vector_view<const I, space>(ids.data() + first, n), ey);
    auto zy = vector_view<T, space>(zy_all.data(), n);
    row_dot(be, x0.row_block(first, n), matrix_view<const T, space>(ey), zy);
    const auto hl = download(be, vector_view<const T, space>(lse));
    const auto hz = download(be, vector_view<const T, space>(zy));
    for (size_type i = 0; i < n; ++i)
      ce[static_cast<std::size_t>(first + i)] = static_cast<double>(hl[static_cast<std::size_t>(i)]) - static_cast<double>(hz[static_cast<std::size_t>(i)]) -
                                                static_cast<double>(host_bias[static_cast<std::size_t>(host_ids[static_cast<std::size_t>(first + i)])]);
  }
  const auto err = download(be, vector_view<const T, space>(sq_err));
  const auto x0sq = download(be, vector_view<const T, space>(sq_x0));

  diffusion_loss_terms out;
  const double ab_last = schedule.alphas_cumprod.back(), per_example = static_cast<double>(length * dim);
  for (size_type b = 0; b < batch; ++b) {
    double mse = 0, prior = 0, nll = 0;
    for (size_type r = b * length; r < (b + 1) * length; ++r) {
      mse += static_cast<double>(err[static_cast<std::size_t>(r)]);
      prior += ab_last * static_cast<double>(x0sq[static_cast<std::size_t>(r)]);
      nll += ce[static_cast<std::size_t>(r)];
    }
    out.mse.push_back(mse / per_example);
    out.tT.push_back(prior / per_example);
    out.decoder_nll.push_back(nll / static_cast<double>(length));
    out.total.push_back(out.mse.back() + out.decoder_nll.back() + out.tT.back());
  }
  return out;
}

}  // namespace beacon::diffusion
