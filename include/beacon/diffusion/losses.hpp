// SPDX-License-Identifier: Apache-2.0
#pragma once
// The training loss terms of the DiffuSeq/InfoDiffusion reference, per example (B examples of L
// token rows of dimension d; every mean runs over all L*d values, source and padding included):
//   mse         = mean ||x0 - x0_hat||^2, with target E[w] instead of x0 where t == 0
//   tT          = mean ||sqrt(alpha_bar_{T-1}) x0||^2   (prior matching; tiny)
//   decoder_nll = mean over the L positions of CE(x0 E^T + bias, w)   (rounding term)
//   total       = mse + decoder_nll + tT
// Written once over the backend: the tensor work (the t = 0 select, GEMM logits, log-sum-exp, row
// dots, the per-row cross-entropy) runs on the backend; per-row results cross to the host once and
// are summed per example in double.

#include <cmath>
#include <span>
#include <vector>

#include "../backend/checks.hpp"
#include "../backend/contract.hpp"
#include "../backend/transfer.hpp"
#include "../core/backend.hpp"
#include "../core/config.hpp"
#include "../core/gemm_shape.hpp"
#include "../core/philox.hpp"
#include "../core/workspace.hpp"
#include "schedule.hpp"

namespace beacon::diffusion {

struct diffusion_loss_terms {
  std::vector<double> mse, tT, decoder_nll, total;  ///< one value per example
};

namespace kernels {

/// Grid: rows x d. diff(r, j) = target(r, j) - x0_hat(r, j), target = clean (E[w]) where the row's
/// example has t == 0, else x0.
template <class T, class S>
struct mse_residual {
  matrix_view<const T, S> x0, x0_hat, clean;
  vector_view<const index_type, S> t;  ///< one timestep per example
  size_type length;
  matrix_view<T, S> diff;
  BEACON_HD void operator()(size_type r, size_type j) const {
    diff(r, j) = (t[r / length] == 0 ? clean(r, j) : x0(r, j)) - x0_hat(r, j);
  }
};

/// Grid: rows x V. logits(r, v) = bias[v] (the GEMM then adds x0 E^T with beta = 1).
template <class T, class S>
struct broadcast_bias {
  vector_view<const T, S> bias;
  matrix_view<T, S> logits;
  BEACON_HD void operator()(size_type r, size_type v) const { logits(r, v) = bias[v]; }
};

/// Grid: rows. ce[r] = lse[r] - (x0 . E[w])[r] - bias[w_r]: the rounding cross-entropy.
template <class T, class I, class S>
struct rounding_cross_entropy {
  vector_view<const T, S> lse, zy, bias;
  vector_view<const I, S> ids;
  vector_view<T, S> ce;
  BEACON_HD void operator()(size_type r) const { ce[r] = lse[r] - zy[r] - bias[ids[r]]; }
};

}  // namespace kernels

/// Rows of logits formed at a time: a 32 MiB (chunk x V) block, at least one row.
template <class T>
size_type diffusion_loss_chunk(size_type rows, size_type vocab) {
  const auto per_row = sizeof(T) * static_cast<std::size_t>(std::max<size_type>(vocab, 1));
  return std::max<size_type>(1, std::min<size_type>(rows, static_cast<size_type>((std::size_t{32} << 20) / per_row)));
}

/// Scratch bytes diffusion_losses needs for rows = B*L rows of width d, V embeddings and B examples.
template <class T>
std::size_t diffusion_losses_workspace_bytes(size_type rows, size_type dim, size_type vocab, size_type batch) {
  const size_type chunk = diffusion_loss_chunk<T>(rows, vocab);
  return workspace_layout()
      .template add<T>(rows * dim)       // target - x0_hat
      .template add<T>(3 * rows)         // per-row |diff|^2, |x0|^2, cross-entropy (one download)
      .template add<T>(2 * rows)         // log-sum-exp, x0 . E[w]
      .template add<index_type>(batch)   // timesteps
      .template add<T>(chunk * vocab)    // logits chunk
      .template add<T>(chunk * dim)      // E[w] chunk
      .bytes();
}

/// What diffusion_losses needs from a backend.
template <class B, class T>
concept diffusion_loss_backend = memory_primitives<B, T> && memory_primitives<B, index_type> && elementwise_primitives<B, T> &&
                                 reduction_primitives<B, T> && gemm_primitives<B, T> && row_primitives<B, T>;

/// The loss terms on any backend. x0, x0_hat, clean (E[w]): (B*L) x d; embedding V x d; bias V;
/// ids (B*L) target tokens; t (host) one timestep per example. Scratch comes from `workspace`
/// (diffusion_losses_workspace_bytes<T>(B*L, d, V, B) bytes). Host synchronisations: one to
/// validate ids (before any work) and one to bring the per-row sums back (after all of it); logits
/// are formed a chunk of rows at a time with no host round trip between chunks.
template <backend B, class X0, class XH, class CL, class E, class Bias, class I>
  requires diffusion_loss_backend<B, std::remove_const_t<X0>>
diffusion_loss_terms diffusion_losses(const B& be, const schedule_tables& schedule, std::span<const index_type> t,
                                      matrix_view<X0, space_of<B>> x0, matrix_view<XH, space_of<B>> x0_hat,
                                      matrix_view<CL, space_of<B>> clean, matrix_view<E, space_of<B>> embedding,
                                      vector_view<Bias, space_of<B>> bias, vector_view<I, space_of<B>> ids,
                                      workspace_arena<space_of<B>>& workspace) {
  using T = std::remove_const_t<X0>;
  using space = space_of<B>;
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
  const auto host_ids = download(be, vector_view<const I, space>(ids));
  for (size_type r = 0; r < rows; ++r)
    if (host_ids[static_cast<std::size_t>(r)] < 0 || host_ids[static_cast<std::size_t>(r)] >= vocab)
      beacon::detail::fail(fn, "ids", beacon::detail::concat("token ids in [0, ", vocab, ")"),
                           beacon::detail::concat(host_ids[static_cast<std::size_t>(r)], " at row ", r));

  const size_type chunk = diffusion_loss_chunk<T>(rows, vocab);
  auto diff = workspace.template take<T>(rows * dim).as_matrix(rows, dim);
  auto per_row = workspace.template take<T>(3 * rows);
  const vector_view<T, space> sq_err(per_row.data(), rows), sq_x0(per_row.data() + rows, rows), ce(per_row.data() + 2 * rows, rows);
  auto lse_zy = workspace.template take<T>(2 * rows);
  const vector_view<T, space> lse(lse_zy.data(), rows), zy(lse_zy.data() + rows, rows);
  auto t_device = workspace.template take<index_type>(batch);
  auto logits_all = workspace.template take<T>(chunk * vocab);
  auto ey_all = workspace.template take<T>(chunk * dim);
  copy(be, vector_view<const index_type, host_space>(t.data(), batch), t_device);

  // mse: target is x0, or E[w] where t == 0, minus x0_hat.
  for_each_element(be, rows, dim,
                   kernels::mse_residual<T, space>{x0, x0_hat, clean, vector_view<const index_type, space>(t_device), length, diff});
  row_dot(be, matrix_view<const T, space>(diff), matrix_view<const T, space>(diff), sq_err);
  row_dot(be, x0, x0, sq_x0);

  // decoder_nll: CE(x0 E^T + bias, w) = logsumexp - (x0 . E[w] + bias[w]), a chunk of rows at a time.
  for (size_type first = 0; first < rows; first += chunk) {
    const size_type n = std::min(chunk, rows - first);
    auto logits = logits_all.as_matrix(chunk, vocab).row_block(0, n);
    for_each_element(be, n, vocab, kernels::broadcast_bias<T, space>{bias, logits});
    gemm(be, transpose::no, transpose::yes, T(1), x0.row_block(first, n), embedding, T(1), logits);
    row_logsumexp(be, matrix_view<const T, space>(logits), vector_view<T, space>(lse.data() + first, n));
    auto ey = ey_all.as_matrix(chunk, dim).row_block(0, n);
    gather_rows(be, embedding, vector_view<const I, space>(ids.data() + first, n), ey);
    row_dot(be, x0.row_block(first, n), matrix_view<const T, space>(ey), vector_view<T, space>(zy.data() + first, n));
  }
  for_each_index(be, rows,
                 kernels::rounding_cross_entropy<T, std::remove_const_t<I>, space>{vector_view<const T, space>(lse), vector_view<const T, space>(zy), bias,
                                                                                    vector_view<const std::remove_const_t<I>, space>(ids.data(), rows), ce});
  const auto host = download(be, vector_view<const T, space>(per_row));

  diffusion_loss_terms out;
  const double ab_last = schedule.alphas_cumprod.back(), per_example = static_cast<double>(length * dim);
  for (size_type b = 0; b < batch; ++b) {
    double mse = 0, prior = 0, nll = 0;
    for (size_type r = b * length; r < (b + 1) * length; ++r) {
      mse += static_cast<double>(host[static_cast<std::size_t>(r)]);
      prior += ab_last * static_cast<double>(host[static_cast<std::size_t>(rows + r)]);
      nll += static_cast<double>(host[static_cast<std::size_t>(2 * rows + r)]);
    }
    out.mse.push_back(mse / per_example);
    out.tT.push_back(prior / per_example);
    out.decoder_nll.push_back(nll / static_cast<double>(length));
    out.total.push_back(out.mse.back() + out.decoder_nll.back() + out.tT.back());
  }
  return out;
}

/// As above with scratch from the backend's own arena (be.scratch()).
template <backend B, class X0, class XH, class CL, class E, class Bias, class I>
  requires diffusion_loss_backend<B, std::remove_const_t<X0>>
diffusion_loss_terms diffusion_losses(const B& be, const schedule_tables& schedule, std::span<const index_type> t,
                                      matrix_view<X0, space_of<B>> x0, matrix_view<XH, space_of<B>> x0_hat,
                                      matrix_view<CL, space_of<B>> clean, matrix_view<E, space_of<B>> embedding,
                                      vector_view<Bias, space_of<B>> bias, vector_view<I, space_of<B>> ids) {
  using T = std::remove_const_t<X0>;
  auto workspace = be.scratch(diffusion_losses_workspace_bytes<T>(x0.rows(), x0.cols(), embedding.rows(), static_cast<size_type>(t.size())));
  return diffusion_losses(be, schedule, t, x0, x0_hat, clean, embedding, bias, ids, workspace);
}

}  // namespace beacon::diffusion
