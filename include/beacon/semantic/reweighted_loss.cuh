// SPDX-License-Identifier: Apache-2.0
#pragma once
// Semantic re-weighted cross-entropy on the CUDA backend (nvcc only): the same function, arguments,
// result and errors as the CPU version in reweighted_loss.hpp, for device views.
//
// Pipeline, all on the backend's stream, scratch from be.scratch():
//   1. one row kernel per chunk of sequences: online max + exp-sum, CE (in double), the finiteness
//      and target-range checks as a per-row status, the arg-max (ARGMAX mode), and the
//      probabilities written straight into grad_logits (zeros on prompt rows): no second
//      (B*L) x V array. Without grad_logits the probabilities go to a bounded scratch chunk.
//   2. EXPECTED output vectors by cuBLAS: per item, the item's mean probability row (B x V, the
//      masked mean pool of its rows) times E, so the GEMM has B rows, not B*L; per token, the
//      probability rows times E. E is the caller's view, never copied.
//   3. one block per item: mean target embedding, distance and (ADDITIVE) dd/do, in double, with
//      distance_from_moments, the CPU's arithmetic.
//   4. the one wait: per-row status and CE and per-item distances come back in one transfer; the
//      checks, the per-item CE means and the weights (combine_weighted_loss) run on the host with
//      the CPU's code and messages; per-row scales go back up.
//   5. one fused kernel per row: grad = c p - c onehot(y) [+ s p (E g - <p, E g>)], with E g from a
//      cuBLAS GEMM (G E^T, in bounded chunks) when ADDITIVE is on. It is queued, not waited for.

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../backend/cuda.cuh"
#include "../backend/transfer.hpp"
#include "reweighted_loss.hpp"

namespace beacon::semantic {

namespace detail {

/// Per-row status in the downloaded report (stored as double next to the CE).
inline constexpr double prompt_row = 0, answer_row = 1, bad_target_row = 2, non_finite_row = 3;

/// Scratch for one chunk of probabilities / pooled probabilities / E g rows.
inline constexpr std::size_t semantic_ce_chunk_bytes = std::size_t{128} << 20;

/// Rows [first, first + rows) of `logits`: status, CE (or the bad target id), arg-max and the
/// probabilities (row r - first of `probs`, when it has columns). Every lane of a warp runs the
/// same shuffles, whatever its row's status.
template <class Z, class I, class M, class P>
__global__ void __launch_bounds__(beacon::detail::block_threads)
    ce_rows_kernel(matrix_view<Z, device_space> logits, vector_view<I, device_space> targets, matrix_view<M, device_space> mask,
                   size_type first, size_type rows, matrix_view<P, device_space> probs, index_type* argmax, double* status,
                   double* value, int lanes) {
  using T = std::remove_const_t<Z>;
  using namespace beacon::detail;
  const row_group g = make_row_group(lanes);
  const size_type vocab = logits.cols(), length = mask.cols();
  for (size_type base = g.first; base < rows; base += g.step) {
    const size_type i = base + g.group;
    const bool valid = i < rows;
    const size_type r = first + i;
    const bool answer = valid && mask(r / length, r % length) != M(0);
    // Online softmax statistics: this lane's max, exp-sum relative to it, and its first arg-max.
    T m = negative_infinity<T>(), s = T(0);
    size_type at = -1;
    int finite = 1;
    if (answer)
      for (size_type j = g.sub; j < vocab; j += lanes) {
        const T x = logits(r, j);
        finite &= std::isfinite(x) ? 1 : 0;
        if (x > m) {
          s = s * device_exp(m - x) + T(1);
          m = x;
          at = j;
        } else {
          s += device_exp(x - m);
        }
      }
    const T row_max = group_max(m, lanes);
    const T row_sum = group_sum(m == row_max ? s : s * device_exp(m - row_max), lanes);
    finite = -group_max(-finite, lanes);  // the group's minimum
    if (argmax != nullptr) {
      T best = m;
      group_arg_best<true>(best, at, lanes);
    }
    if (!valid) continue;
    if (g.sub == 0) {
      const auto y = static_cast<size_type>(targets[r]);
      if (!answer) {
        status[r] = prompt_row;
        value[r] = 0;
      } else if (y < 0 || y >= vocab) {
        status[r] = bad_target_row;
        value[r] = static_cast<double>(targets[r]);
      } else {
        status[r] = finite ? answer_row : non_finite_row;
        value[r] = static_cast<double>(row_max) - static_cast<double>(logits(r, y)) + log(static_cast<double>(row_sum));
      }
      if (argmax != nullptr) argmax[r] = static_cast<index_type>(answer ? at : 0);
    }
    if (probs.cols() > 0) {
      const T inv = T(1) / row_sum;
      for (size_type j = g.sub; j < vocab; j += lanes) probs(i, j) = answer ? static_cast<P>(device_exp(logits(r, j) - row_max) * inv) : P(0);
    }
  }
}

/// Block-wide sum of one double per thread (blockDim.x a power of two), in a fixed tree: the same
/// bits run to run. Every thread gets the total.
__device__ inline double block_sum(double v) {
  __shared__ double partial[beacon::detail::block_threads];
  partial[threadIdx.x] = v;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  const double total = partial[0];
  __syncthreads();  // partial[] is rewritten by the next call
  return total;
}

/// The output and target vectors of item k at column j (means over its answer rows, in row order,
/// in double: the CPU's sums).
template <class O, class E, class I>
struct item_vectors {
  matrix_view<O, device_space> expected;  ///< EXPECTED: the item's output vector row (empty: ARGMAX)
  const index_type* argmax;               ///< ARGMAX: per-row arg-max ids
  matrix_view<E, device_space> embedding;
  vector_view<I, device_space> targets;
  const double* status;
  size_type pool;  ///< rows per item: L (per item) or 1 (per token)

  __device__ size_type count(size_type k) const {
    size_type m = 0;
    for (size_type r = k * pool; r < (k + 1) * pool; ++r) m += status[r] == answer_row;
    return m;
  }
  __device__ void at(size_type k, size_type j, double inv_m, double& o, double& t) const {
    double so = 0, st = 0;
    for (size_type r = k * pool; r < (k + 1) * pool; ++r) {
      if (status[r] != answer_row) continue;
      st += static_cast<double>(embedding(static_cast<size_type>(targets[r]), j));
      if (argmax != nullptr) so += static_cast<double>(embedding(argmax[r], j));
    }
    t = st * inv_m;
    o = argmax != nullptr ? so * inv_m : static_cast<double>(expected(k, j));
  }
};

/// One block per item: d(o_k, t_k) into distance[k] and, when grad_o has rows, dd/do into its row k.
template <class O, class E, class I, class Gr>
__global__ void __launch_bounds__(beacon::detail::block_threads)
    item_distance_kernel(item_vectors<O, E, I> v, size_type items, distance_options dist, double* distance,
                         matrix_view<Gr, device_space> grad_o) {
  const size_type dim = v.embedding.cols();
  const bool want_grad_o = grad_o.rows() > 0;
  for (size_type k = blockIdx.x; k < items; k += gridDim.x) {
    const size_type m = v.count(k);  // block-uniform
    if (m == 0) {  // a prompt row (per token) or an empty item (an error reported on the host)
      if (threadIdx.x == 0) distance[k] = 0;
      if (want_grad_o)
        for (size_type j = threadIdx.x; j < dim; j += blockDim.x) grad_o(k, j) = Gr(0);
      continue;
    }
    const double inv_m = 1.0 / static_cast<double>(m);
    double dot = 0, uu = 0, vv = 0, diff2 = 0;
    for (size_type j = threadIdx.x; j < dim; j += blockDim.x) {
      double o, t;
      v.at(k, j, inv_m, o, t);
      dot += o * t;
      uu += o * o;
      vv += t * t;
      diff2 += (o - t) * (o - t);
    }
    dot = block_sum(dot);
    uu = block_sum(uu);
    vv = block_sum(vv);
    diff2 = block_sum(diff2);
    // Every thread has the same moments, so every thread derives the same terms.
    const distance_terms terms = distance_from_moments(dot, uu, vv, diff2, dist);
    if (threadIdx.x == 0) distance[k] = terms.d;
    if (!want_grad_o) continue;
    for (size_type j = threadIdx.x; j < dim; j += blockDim.x) {
      double o, t;
      v.at(k, j, inv_m, o, t);
      grad_o(k, j) = static_cast<Gr>(terms.cu * o + terms.cv * t);
    }
  }
}

/// Rows [first, last) of grad (holding the probabilities): answer rows become
/// c p - c onehot(y) + s p (eg - <p, eg>), eg = row (r / pool - first_eg_row) of `eg` (ADDITIVE,
/// when it has rows). Prompt rows already hold 0.
template <class Gr, class I, class EG>
__global__ void __launch_bounds__(beacon::detail::block_threads)
    ce_gradient_kernel(matrix_view<Gr, device_space> grad, vector_view<I, device_space> targets, const double* status,
                       const Gr* ce_scale, const Gr* additive_scale, matrix_view<EG, device_space> eg, size_type pool,
                       size_type first, size_type last, size_type first_eg_row, int lanes) {
  using namespace beacon::detail;
  const row_group g = make_row_group(lanes);
  const size_type vocab = grad.cols(), rows = last - first;
  const bool additive = eg.rows() > 0;
  for (size_type base = g.first; base < rows; base += g.step) {
    const size_type i = base + g.group;
    const size_type r = first + i;
    const bool answer = i < rows && status[r] == answer_row;
    Gr overlap = Gr(0);  // <p, eg>
    if (additive) {
      if (answer)
        for (size_type j = g.sub; j < vocab; j += lanes) overlap += grad(r, j) * eg(r / pool - first_eg_row, j);
      overlap = group_sum(overlap, lanes);
    }
    if (!answer) continue;
    const Gr c = ce_scale[r];
    const auto y = static_cast<size_type>(targets[r]);
    if (additive) {
      const Gr s = additive_scale[r];
      for (size_type j = g.sub; j < vocab; j += lanes) {
        const Gr p = grad(r, j);
        grad(r, j) = c * p + s * p * (eg(r / pool - first_eg_row, j) - overlap) - (j == y ? c : Gr(0));
      }
    } else {
      for (size_type j = g.sub; j < vocab; j += lanes) grad(r, j) = c * grad(r, j) - (j == y ? c : Gr(0));
    }
  }
}

/// The CUDA path with an explicit bound on each scratch chunk (tests use a small one to cover the
/// chunked paths; the public overload passes semantic_ce_chunk_bytes).
template <class Z, class I, class M, class E, class G>
semantic_ce_result semantic_cross_entropy_cuda(const cuda& be, matrix_view<Z, device_space> logits, vector_view<I, device_space> targets,
                                               matrix_view<M, device_space> answer_mask, matrix_view<E, device_space> embedding,
                                               const reweight_options& o, matrix_view<G, device_space> grad_logits,
                                               loss_granularity granularity, output_vector mode, const distance_options& dist,
                                               std::size_t chunk_bytes) {
  using T = std::remove_const_t<Z>;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "semantic_cross_entropy (cuda): logits must be float or double");
  static_assert(same_element<E, T> && std::is_same_v<G, T>,
                "semantic_cross_entropy (cuda): embedding and grad_logits must have the logits' element type");
  using Ti = std::remove_const_t<I>;
  const char* fn = "semantic_cross_entropy";
  check_semantic_ce(fn, logits, targets, answer_mask, embedding, grad_logits, o, mode);
  const size_type rows = logits.rows(), vocab = logits.cols(), dim = embedding.cols();
  const size_type sequences = answer_mask.rows(), length = answer_mask.cols();
  const bool want_grad = grad_logits.rows() > 0, additive = o.additive_lambda != 0.0;
  const bool expected = mode == output_vector::expected, per_item = granularity == loss_granularity::per_item;
  const size_type pool = per_item ? length : 1;         // logits rows per output-vector row
  const size_type out_rows = per_item ? sequences : rows;  // output-vector rows (items, or every row)

  semantic_ce_result res;
  if (rows == 0) {  // nothing on the device; the host rules (empty batch, empty items) still apply
    const answer_layout layout = collect_answer_rows(
        fn, sequences, length, vocab, granularity, [](size_type) { return false; }, [](size_type) { return Ti(0); });
    res.ce.assign(static_cast<std::size_t>(layout.items()), 0.0);
    res.distance = res.ce;
    res.combined = combine_weighted_loss(res.ce, res.distance, o);
    return res;
  }

  // Scratch: chunks of whole sequences bound the probability and pooled-probability buffers.
  const bool probs_in_scratch = !want_grad && expected;
  const bool pooled = expected && per_item;
  const std::size_t bytes_per_sequence = sizeof(T) * static_cast<std::size_t>(vocab) *
                                         static_cast<std::size_t>((probs_in_scratch ? length : 0) + (pooled ? 1 : 0));
  const size_type sequences_per_chunk =
      bytes_per_sequence == 0 ? sequences
                              : std::clamp<size_type>(static_cast<size_type>(chunk_bytes / bytes_per_sequence), 1, sequences);
  const size_type eg_rows_per_chunk =
      vocab == 0 ? out_rows : std::clamp<size_type>(static_cast<size_type>(chunk_bytes / (sizeof(T) * static_cast<std::size_t>(vocab))), 1, out_rows);
  // The arrays below are carved in this order.
  const size_type n_report = 2 * rows + out_rows;                               // status | value | distance
  const size_type n_out = expected ? out_rows * dim : 0;                        // output vectors
  const size_type n_argmax = expected ? 0 : rows;                               // arg-max ids
  const size_type n_grad_o = additive ? out_rows * dim : 0;                     // dd/do
  const size_type n_scales = want_grad ? 2 * rows : 0;                          // per-row scales
  const size_type n_probs = probs_in_scratch ? sequences_per_chunk * length * vocab : 0;
  const size_type n_pooled = pooled ? sequences_per_chunk * vocab : 0;          // mean probabilities
  const size_type n_eg = additive && want_grad ? eg_rows_per_chunk * vocab : 0;  // E g rows
  workspace_layout need;
  need.add<double>(n_report);
  need.add<T>(n_out);
  need.add<index_type>(n_argmax);
  need.add<T>(n_grad_o);
  need.add<T>(n_scales);
  need.add<T>(n_probs);
  need.add<T>(n_pooled);
  need.add<T>(n_eg);
  workspace_arena<device_space> arena = be.scratch(need.bytes());
  const auto report = arena.take<double>(n_report);
  double* status = report.data();
  double* value = status + rows;
  double* distance = value + rows;
  const auto out = arena.take<T>(n_out).as_matrix(expected ? out_rows : 0, dim);
  index_type* argmax = arena.take<index_type>(n_argmax).data();
  const auto grad_o = arena.take<T>(n_grad_o).as_matrix(additive ? out_rows : 0, dim);
  const auto scales = arena.take<T>(n_scales);
  T* prob_chunk = arena.take<T>(n_probs).data();
  T* pooled_chunk = arena.take<T>(n_pooled).data();
  T* eg_chunk = arena.take<T>(n_eg).data();

  // 1-2: rows, then output vectors, chunk by chunk.
  const int lanes = beacon::detail::lanes_per_row(vocab);
  for (size_type b0 = 0; b0 < sequences; b0 += sequences_per_chunk) {
    const size_type b1 = std::min(sequences, b0 + sequences_per_chunk);
    const size_type r0 = b0 * length, n = (b1 - b0) * length;
    if (n == 0) continue;
    matrix_view<T, device_space> probs;  // none: ARGMAX without a gradient
    if (want_grad) probs = device_matrix(grad_logits.row(r0), n, vocab, grad_logits.ld());
    else if (probs_in_scratch) probs = device_matrix(prob_chunk, n, vocab);
    ce_rows_kernel<<<beacon::detail::row_group_grid(be, n, lanes), beacon::detail::block_threads, 0, be.stream()>>>(
        logits, targets, answer_mask, r0, n, probs, argmax, status, value, lanes);
    beacon::detail::check_launch(fn);
    if (!expected) continue;
    const auto p = matrix_view<const T, device_space>(probs);
    if (per_item) {
      const auto mean_probs = device_matrix(pooled_chunk, b1 - b0, vocab);
      masked_mean_pool(be, p, device_matrix(answer_mask.row(b0), b1 - b0, length, answer_mask.ld()), mean_probs);
      gemm(be, transpose::no, transpose::no, T(1), matrix_view<const T, device_space>(mean_probs), embedding, T(0),
           device_matrix(out.row(b0), b1 - b0, dim, out.ld()));
    } else {
      gemm(be, transpose::no, transpose::no, T(1), p, embedding, T(0), device_matrix(out.row(r0), n, dim, out.ld()));
    }
  }

  // 3: distances (and dd/do) per output-vector row.
  item_vectors<T, E, I> vectors{matrix_view<T, device_space>(out), expected ? nullptr : argmax, embedding, targets, status, pool};
  item_distance_kernel<<<beacon::detail::grid_size(be, out_rows, 1), beacon::detail::block_threads, 0, be.stream()>>>(
      vectors, out_rows, dist, distance, grad_o);
  beacon::detail::check_launch(fn);

  // 4: the one wait. Checks in the CPU's order and with its messages, then the weights.
  const std::vector<double> host = download(be, vector_view<const double, device_space>(report.data(), report.size()));
  const double* h_status = host.data();
  const double* h_value = h_status + rows;
  const double* h_distance = h_value + rows;
  const answer_layout layout = collect_answer_rows(
      fn, sequences, length, vocab, granularity, [&](size_type r) { return h_status[r] != prompt_row; },
      [&](size_type r) { return h_status[r] == bad_target_row ? static_cast<Ti>(h_value[r]) : Ti(0); });
  for (size_type r : layout.rows)
    if (h_status[r] == non_finite_row) fail_non_finite_row(fn, r);
  const size_type items = layout.items();
  res.ce = item_cross_entropy(layout, [&](std::size_t a) { return h_value[layout.rows[a]]; });
  res.distance.resize(static_cast<std::size_t>(items));
  for (size_type i = 0; i < items; ++i)
    res.distance[static_cast<std::size_t>(i)] = h_distance[per_item ? i : layout.rows[static_cast<std::size_t>(i)]];
  res.combined = combine_weighted_loss(res.ce, res.distance, o);
  if (!want_grad || items == 0) return res;  // prompt rows of grad_logits already hold 0

  // 5: per-row scales up, then the fused gradient (queued; the caller's next wait covers it).
  std::vector<T> host_scales(static_cast<std::size_t>(2 * rows), T(0));
  for (std::size_t a = 0; a < layout.rows.size(); ++a) {
    const auto r = static_cast<std::size_t>(layout.rows[a]);
    const auto item = static_cast<std::size_t>(layout.item_of_row[a]);
    const double m = static_cast<double>(layout.item_size[item]);
    host_scales[r] = static_cast<T>(res.combined.coefficients[item] / m);
    host_scales[static_cast<std::size_t>(rows) + r] = static_cast<T>(o.additive_lambda / static_cast<double>(items) / m);
  }
  upload(be, host_scales, scales);
  const T* ce_scale = scales.data();
  const T* additive_scale = scales.data() + rows;
  const auto launch_gradient = [&](size_type first, size_type last, matrix_view<const T, device_space> eg, size_type first_eg_row) {
    if (last <= first) return;
    ce_gradient_kernel<<<beacon::detail::row_group_grid(be, last - first, lanes), beacon::detail::block_threads, 0, be.stream()>>>(
        grad_logits, targets, status, ce_scale, additive_scale, eg, pool, first, last, first_eg_row, lanes);
    beacon::detail::check_launch(fn);
  };
  if (!additive) {
    launch_gradient(0, rows, matrix_view<const T, device_space>(), 0);
    return res;
  }
  for (size_type k0 = 0; k0 < out_rows; k0 += eg_rows_per_chunk) {
    const size_type k1 = std::min(out_rows, k0 + eg_rows_per_chunk);
    const auto eg = device_matrix(eg_chunk, k1 - k0, vocab);
    gemm(be, transpose::no, transpose::yes, T(1), matrix_view<const T, device_space>(device_matrix(grad_o.row(k0), k1 - k0, dim, grad_o.ld())),
         embedding, T(0), eg);
    launch_gradient(k0 * pool, k1 * pool, matrix_view<const T, device_space>(eg), k0);
  }
  return res;
}

}  // namespace detail

/// The semantic re-weighted cross-entropy on device views: semantics, result and error messages as
/// the CPU overload (reweighted_loss.hpp). logits, embedding and grad_logits share one element type
/// (float or double). Waits for the GPU once, after the forward pass (for the per-row CE and
/// per-item distances the weights need); the gradient is queued on the backend's stream when it
/// returns. Scratch comes from be.scratch(); E is read through the caller's view.
template <class Z, class I, class M, class E, class G>
semantic_ce_result semantic_cross_entropy(const cuda& be, matrix_view<Z, device_space> logits, vector_view<I, device_space> targets,
                                          matrix_view<M, device_space> answer_mask, matrix_view<E, device_space> embedding,
                                          const reweight_options& o, matrix_view<G, device_space> grad_logits,
                                          loss_granularity granularity = loss_granularity::per_item,
                                          output_vector mode = output_vector::expected, const distance_options& dist = {}) {
  return detail::semantic_cross_entropy_cuda(be, logits, targets, answer_mask, embedding, o, grad_logits, granularity, mode, dist,
                                             detail::semantic_ce_chunk_bytes);
}

}  // namespace beacon::semantic
