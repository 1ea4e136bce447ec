#pragma once
// The training loss terms of the DiffuSeq/InfoDiffusion reference, per example (B examples of L
// token rows of dimension d; every mean runs over all L*d values, source and padding included):
//   mse         = mean ||x0 - x0_hat||^2, with target E[w] instead of x0 where t == 0
//   tT          = mean ||sqrt(alpha_bar_{T-1}) x0||^2   (prior matching; tiny)
//   decoder_nll = mean over the L positions of CE(x0 E^T + bias, w)   (rounding term)
//   total       = mse + decoder_nll + tT
// Host (CPU backend) implementation; the logits go through the backend GEMM in row chunks.

#include <cmath>
#include <span>
#include <vector>

#include "../backend/cpu.hpp"
#include "schedule.hpp"

namespace beacon::diffusion {

struct diffusion_loss_terms {
  std::vector<double> mse, tT, decoder_nll, total;  ///< one value per example
};

template <class T, class X0, class XH, class CL, class E, class Bias, class I>
diffusion_loss_terms diffusion_losses(const cpu& be, const schedule_tables& schedule, std::span<const index_type> t,
                                      matrix_view<X0, host_space> x0, matrix_view<XH, host_space> x0_hat,
                                      matrix_view<CL, host_space> clean, matrix_view<E, host_space> embedding,
                                      vector_view<Bias, host_space> bias, vector_view<I, host_space> ids) {
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
  const size_type length = x0.rows() / batch, dim = x0.cols(), vocab = embedding.rows();
  for (size_type b = 0; b < batch; ++b)
    if (t[static_cast<std::size_t>(b)] < 0 || t[static_cast<std::size_t>(b)] >= schedule.steps())
      beacon::detail::fail(fn, "t", beacon::detail::concat("timesteps in [0, ", schedule.steps(), ")"),
                           beacon::detail::concat(t[static_cast<std::size_t>(b)], " for example ", b));
  for (size_type r = 0; r < ids.size(); ++r)
    if (ids[r] < 0 || ids[r] >= vocab)
      beacon::detail::fail(fn, "ids", beacon::detail::concat("token ids in [0, ", vocab, ")"),
                           beacon::detail::concat(ids[r], " at row ", r));

  diffusion_loss_terms out;
  const double ab_last = schedule.alphas_cumprod.back();
  const double per_example = static_cast<double>(length * dim);
  for (size_type b = 0; b < batch; ++b) {
    const bool at_zero = t[static_cast<std::size_t>(b)] == 0;
    double mse = 0, prior = 0;
    for (size_type r = b * length; r < (b + 1) * length; ++r)
      for (size_type j = 0; j < dim; ++j) {
        const double target = at_zero ? static_cast<double>(clean(r, j)) : static_cast<double>(x0(r, j));
        const double d = target - static_cast<double>(x0_hat(r, j));
        mse += d * d;
        prior += ab_last * static_cast<double>(x0(r, j)) * static_cast<double>(x0(r, j));
      }
    out.mse.push_back(mse / per_example);
    out.tT.push_back(prior / per_example);
  }

  // Rounding CE: logits = x0 E^T + bias, in chunks of rows; CE = logsumexp - logit[target].
  std::vector<double> ce(static_cast<std::size_t>(x0.rows()));
  const size_type chunk = std::max<size_type>(1, (std::size_t{32} << 20) / (sizeof(T) * static_cast<std::size_t>(vocab)));
  std::vector<T> logits(static_cast<std::size_t>(std::min(chunk, x0.rows()) * vocab));
  for (size_type first = 0; first < x0.rows(); first += chunk) {
    const size_type n = std::min(chunk, x0.rows() - first);
    auto lv = host_matrix(logits.data(), n, vocab);
    gemm(be, transpose::no, transpose::yes, T(1), x0.row_block(first, n), embedding, T(0), lv);
    for (size_type i = 0; i < n; ++i) {
      double m = -INFINITY;
      for (size_type v = 0; v < vocab; ++v) m = std::max(m, static_cast<double>(lv(i, v)) + static_cast<double>(bias[v]));
      double s = 0;
      for (size_type v = 0; v < vocab; ++v) s += std::exp(static_cast<double>(lv(i, v)) + static_cast<double>(bias[v]) - m);
      const index_type w = ids[first + i];
      ce[static_cast<std::size_t>(first + i)] = m + std::log(s) - (static_cast<double>(lv(i, w)) + static_cast<double>(bias[w]));
    }
  }
  for (size_type b = 0; b < batch; ++b) {
    double s = 0;
    for (size_type r = b * length; r < (b + 1) * length; ++r) s += ce[static_cast<std::size_t>(r)];
    out.decoder_nll.push_back(s / static_cast<double>(length));
    out.total.push_back(out.mse[static_cast<std::size_t>(b)] + out.decoder_nll.back() + out.tT[static_cast<std::size_t>(b)]);
  }
  return out;
}

}  // namespace beacon::diffusion
