// SPDX-License-Identifier: Apache-2.0
#pragma once
// Per-instance anchor routing: the robust variant measured in spec lemoe.md §12 (Avg .83 on ZsRE
// where the paper-faithful KV router collapsed to chance). Every edited instance's embedding is
// stored as an anchor of the expert that learned it; a query goes to the expert owning the most
// similar anchor (cosine after centring by the mean of all stored anchors), or to no expert when
// that similarity is below a threshold (the null route that protects locality). Nothing here is
// trained, so later steps cannot move earlier routes: insertion only adds anchors.
//
// Beyond the paper (which uses one learned key per expert). Its state is data, not parameters:
// io::save_adaptor stores the anchors and their owners as two extra tensors. Over the backend:
// one GEMM of the queries against all anchors, then the best anchor per expert (anchors are kept
// grouped by expert, so that is a scan of each expert's contiguous range).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "../backend/transfer.hpp"
#include "../core/gemm_shape.hpp"
#include "routing.hpp"

namespace beacon::moe {

struct instance_anchor_options {
  double threshold = 0.5;  ///< cosine below which an instance gets no expert
  bool centre = true;      ///< subtract the mean of the stored anchors before the cosine
};

template <class TopK>
struct instance_anchor_router {
  static constexpr size_type k = TopK::value;
  static constexpr bool instance_level = true;
  using options = instance_anchor_options;
  static std::string identity() { return beacon::concat("instance_anchor<k=", k, ">"); }

  template <class T, class B>
  struct cache {
    routing<T, B> route;
    buffer_t<T, B> query, cos;  ///< B x d centred unit queries, B x anchors cosines
  };

  template <class T, class B>
  class state {
   public:
    using space = typename B::memory_space;
    state() = default;
    state(const B& be, size_type d_model, size_type, size_type, const options& o, std::uint64_t)
        : d_model_(d_model), opt_(o), anchors_(make_buffer<T>(be, 0)), unit_(make_buffer<T>(be, 0)), mean_(make_buffer<T>(be, d_model)) {
      if (!std::isfinite(o.threshold)) beacon::fail("instance_anchor_router", "options.threshold", "finite", o.threshold);
      offsets_ = {0};
      upload_offsets(be);
      fill(be, T(0), mean_.view().as_matrix(1, d_model));
    }

    [[nodiscard]] const options& settings() const noexcept { return opt_; }
    [[nodiscard]] size_type experts() const noexcept { return static_cast<size_type>(offsets_.size()) - 1; }
    [[nodiscard]] size_type anchor_count() const noexcept { return static_cast<size_type>(owner_.size()); }
    /// The stored anchors (anchor_count x d, grouped by expert) and the expert of each.
    [[nodiscard]] matrix_view<const T, space> anchors() const { return {anchors_.view().data(), anchor_count(), d_model_}; }
    [[nodiscard]] const std::vector<index_type>& owner() const noexcept { return owner_; }
    std::vector<parameter<T, B>*> params() { return {}; }  // nothing to train
    std::vector<const parameter<T, B>*> params() const { return {}; }

    /// Stores the new batch's instance embeddings as anchors of expert `slot` (= experts()).
    void insert(const B& be, size_type slot, matrix_view<const T, space> batch_e) {
      if (batch_e.rows() > 0) beacon::require_extent("instance_anchor_router::insert", "batch_instance_embeddings", "cols (d_model)", batch_e.cols(), d_model_);
      const size_type old = anchor_count(), n = batch_e.rows();
      auto grown = make_buffer<T>(be, (old + n) * d_model_);
      if (old > 0) copy(be, vector_view<const T, space>(anchors_.view().data(), old * d_model_), vector_view<T, space>(grown.view().data(), old * d_model_));
      if (n > 0) detail::copy_matrix<T, B>(be, batch_e, matrix_view<T, space>(grown.view().data() + old * d_model_, n, d_model_));
      anchors_ = std::move(grown);
      owner_.insert(owner_.end(), static_cast<std::size_t>(n), static_cast<index_type>(slot));
      offsets_.push_back(static_cast<index_type>(old + n));
      upload_offsets(be);
      rebuild(be);
    }

    /// Replaces the anchors (e.g. from a checkpoint): anchors is N x d row-major on the host, owner[i]
    /// the expert of row i, every owner in [0, experts) where experts is the number of experts.
    void restore(const B& be, size_type experts, const std::vector<T>& anchors, const std::vector<index_type>& owner) {
      const char* fn = "instance_anchor_router::restore";
      const auto n = static_cast<size_type>(owner.size());
      if (static_cast<size_type>(anchors.size()) != n * d_model_)
        beacon::fail<shape_error>(fn, "anchors", beacon::concat(n, " x ", d_model_, " values (one row per owner)"), anchors.size());
      for (index_type o : owner)
        if (o < 0 || o >= experts) beacon::fail(fn, "owner", beacon::concat("expert ids in [0, ", experts, ")"), o);
      for (T v : anchors)
        if (!std::isfinite(static_cast<double>(v))) beacon::fail(fn, "anchors", "finite values", "a NaN or Inf");
      std::vector<size_type> order(static_cast<std::size_t>(n));
      std::iota(order.begin(), order.end(), size_type{0});
      std::stable_sort(order.begin(), order.end(), [&](size_type a, size_type b) { return owner[static_cast<std::size_t>(a)] < owner[static_cast<std::size_t>(b)]; });
      std::vector<T> sorted(anchors.size());
      owner_.assign(static_cast<std::size_t>(n), 0);
      offsets_.assign(static_cast<std::size_t>(experts + 1), 0);
      for (size_type i = 0; i < n; ++i) {
        const auto from = static_cast<std::size_t>(order[static_cast<std::size_t>(i)]);
        std::copy_n(anchors.begin() + static_cast<std::ptrdiff_t>(from * static_cast<std::size_t>(d_model_)), d_model_,
                    sorted.begin() + static_cast<std::ptrdiff_t>(i * d_model_));
        owner_[static_cast<std::size_t>(i)] = owner[from];
        ++offsets_[static_cast<std::size_t>(owner[from] + 1)];
      }
      std::partial_sum(offsets_.begin(), offsets_.end(), offsets_.begin());
      anchors_ = make_buffer<T>(be, n * d_model_);
      upload(be, sorted, anchors_.view());
      be.synchronize();
      upload_offsets(be);
      rebuild(be);
    }

    void route(const B& be, matrix_view<const T, space> e, cache<T, B>& c, const route_request& req) const {
      const char* fn = "instance_anchor_router::route";
      const size_type t = experts(), rows = e.rows(), n = anchor_count();
      if (t == 0) beacon::fail(fn, "experts", ">= 1 (insert an expert first)", 0);
      beacon::require_extent(fn, "instance_embeddings", "cols (d_model)", e.cols(), d_model_);
      if (req.forced >= t) beacon::fail(fn, "forced", beacon::concat("an expert id < ", t), req.forced);
      c.route.resize(be, rows, t, std::min(k, t));
      if (rows == 0) return;
      reserve_buffer<T, B>(be, c.query, rows * d_model_);
      reserve_buffer<T, B>(be, c.cos, rows * std::max<size_type>(n, 1));
      const matrix_view<T, space> q(c.query.view().data(), rows, d_model_), cos(c.cos.view().data(), rows, n);
      for_each_element(be, rows, d_model_, kernels::subtract_row<T, space>{e, vector_view<const T, space>(mean_.view()), q});
      for_each_index(be, rows, kernels::unit_rows<T, space>{matrix_view<const T, space>(q), T(0), q, {}}, d_model_);
      if (n > 0) gemm(be, transpose::no, transpose::yes, T(1), matrix_view<const T, space>(q), matrix_view<const T, space>(unit_.view().data(), n, d_model_), T(0), cos);
      for_each_element(be, rows, t,
                       kernels::best_anchor<T, space>{matrix_view<const T, space>(cos), vector_view<const index_type, space>(offsets_device_.view()),
                                                      c.route.scores()});
      detail::softmax_select(be, c.route, gate_norm::renormalize_top_k);
      if (req.forced >= 0)
        for_each_index(be, rows, kernels::force_route<T, space>{c.route.probs(), req.forced, true, true, c.route.gates(), c.route.ids()}, c.route.k);
      else
        for_each_index(be, rows, kernels::null_route<T, space>{c.route.scores(), static_cast<T>(opt_.threshold), c.route.gates(), c.route.ids()}, t);
    }

    /// Nothing is trained: routing is a nearest-anchor lookup.
    void backward(const B&, cache<T, B>&, matrix_view<const T, space>, buffer_t<T, B>&) {}

   private:
    void upload_offsets(const B& be) {
      offsets_device_ = make_buffer<index_type>(be, static_cast<size_type>(offsets_.size()));
      upload(be, offsets_, offsets_device_.view());
      be.synchronize();
    }

    /// The centred (by the anchors' mean), normalised anchors that route() compares against.
    void rebuild(const B& be) {
      const size_type n = anchor_count();
      const auto mean = mean_.view();
      fill(be, T(0), mean.as_matrix(1, d_model_));
      const matrix_view<const T, space> a(anchors_.view().data(), n, d_model_);
      if (opt_.centre && n > 0) {
        add_column_sums(be, a, mean);
        for_each_element(be, 1, d_model_, kernels::scaled_copy<T, space>{mean.as_matrix(1, d_model_), T(1) / static_cast<T>(n), mean.as_matrix(1, d_model_)});
      }
      unit_ = make_buffer<T>(be, n * d_model_);
      const matrix_view<T, space> u(unit_.view().data(), n, d_model_);
      for_each_element(be, n, d_model_, kernels::subtract_row<T, space>{a, vector_view<const T, space>(mean), u});
      for_each_index(be, n, kernels::unit_rows<T, space>{matrix_view<const T, space>(u), T(0), u, {}}, d_model_);
    }

    size_type d_model_ = 0;
    options opt_;
    buffer_t<T, B> anchors_, unit_, mean_;
    std::vector<index_type> owner_, offsets_;
    buffer_t<index_type, B> offsets_device_;
  };
};

}  // namespace beacon::moe
