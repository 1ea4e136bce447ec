// SPDX-License-Identifier: Apache-2.0
#pragma once
// LEMoE's KV-anchor router (spec lemoe.md §4, §11.3), over the backend. Per instance j:
//   e_j = masked mean-pool of frozen token embeddings         (the caller's, e.g. masked_mean_pool)
//   v_j = W_up SiLU(W_down e_j)                               (the feature projection: 2 GEMMs)
//   s_ij = score(k_i, v_j)                                    (dot, as the paper; scaled or cosine: 1 GEMM)
//   g(i | e_j) = TopK(softmax_i over the experts that exist)  (gate_norm selects renormalisation)
// Paper-faithful defaults (spec §11.6): one shared projection retrained at every step (A3), raw dot
// product (A8), softmax over all experts without renormalisation (A6), score-based selection in
// training (A7), key initialised at the new batch's mean v (A4 [I], the cold-start fix of §4.4).
// Options cover the alternatives: per-expert projections frozen with their expert, cosine or scaled
// scores, renormalised top-k, forced routing of the new batch, random keys, and a null route (no
// expert when the best score is below a threshold; beyond the paper, off by default).
//
// The keys are one stacked E x d_k parameter ("router.keys") whose rows [0, E-1) are frozen: an
// earlier expert's key never changes again.

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../backend/transfer.hpp"
#include "../core/gemm_shape.hpp"
#include "routing.hpp"

namespace beacon::moe {

enum class score_function { dot, scaled_dot, cosine };
/// shared_retrained: the paper's one projection, trained at every step; per_expert_frozen: one per
/// expert, frozen with it; identity: no projection (v = e, keys live in the embedding space).
enum class projection_mode { shared_retrained, per_expert_frozen, identity };
enum class key_init { batch_mean, normalized_batch_mean, random };
enum class training_route { by_score, forced_to_new };

struct kv_router_options {
  gate_norm gate = gate_norm::softmax_all_experts;
  score_function score = score_function::dot;
  projection_mode projection = projection_mode::shared_retrained;
  key_init key = key_init::batch_mean;
  training_route train_route = training_route::by_score;
  bool null_route = false;
  double null_threshold = 0.5;  ///< on the best score
  double init_scale = 0.0;      ///< projection init std; 0 = 1/sqrt(fan_in)
};

template <class TopK>
struct kv_anchor_router {
  static constexpr size_type k = TopK::value;
  static constexpr bool instance_level = true;
  using options = kv_router_options;
  static std::string identity() { return beacon::concat("kv_anchor<k=", k, ">"); }

  template <class T, class B>
  struct projection {
    parameter<T, B> down, up;  // r x d, d_k x r
  };

  /// What backward needs from route (buffers reused across calls).
  template <class T, class B>
  struct cache {
    using space = typename B::memory_space;
    routing<T, B> route;
    matrix_view<const T, space> e;  ///< the routed instance embeddings (the caller's)
    size_type projections = 0;
    index_type forced = -1;
    buffer_t<T, B> z, a, v;           ///< per projection: B x r, B x r (SiLU(z)), B x d_k
    buffer_t<T, B> unit_v, v_norm, unit_k, k_norm;  ///< cosine scores only
  };

  template <class T, class B>
  class state {
   public:
    using space = typename B::memory_space;
    state() = default;
    state(const B& be, size_type d_model, size_type rank, size_type key_dim, const options& o, std::uint64_t seed)
        : d_model_(d_model),
          rank_(rank > 0 ? rank : std::max<size_type>(1, d_model / 4)),  // spec A9 default d/4
          key_dim_(key_dim > 0 ? key_dim : d_model),                     // the paper: keys live in R^d
          opt_(o),
          seed_(seed),
          keys_(be, "router.keys", {0, key_dim_}) {
      const char* fn = "kv_anchor_router";
      if (rank < 0) beacon::fail(fn, "router_rank", ">= 0 (0 = d_model / 4)", rank);
      if (key_dim < 0) beacon::fail(fn, "key_dim", ">= 0 (0 = d_model)", key_dim);
      if (o.null_route && !std::isfinite(o.null_threshold)) beacon::fail(fn, "options.null_threshold", "finite", o.null_threshold);
      if (!std::isfinite(o.init_scale) || o.init_scale < 0) beacon::fail(fn, "options.init_scale", ">= 0 and finite", o.init_scale);
      if (identity() && key_dim_ != d_model_) beacon::fail(fn, "key_dim", beacon::concat("0 or d_model (", d_model_, ") with projection_mode::identity"), key_dim);
      if (shared()) shared_ = make_projection(be, "router.", 0);
    }

    [[nodiscard]] const options& settings() const noexcept { return opt_; }
    [[nodiscard]] size_type experts() const noexcept { return keys_.rows(); }
    [[nodiscard]] size_type rank() const noexcept { return rank_; }
    [[nodiscard]] size_type key_dim() const noexcept { return key_dim_; }
    [[nodiscard]] const parameter<T, B>& keys() const noexcept { return keys_; }
    [[nodiscard]] const projection<T, B>& shared_projection() const noexcept { return shared_; }
    [[nodiscard]] const std::vector<projection<T, B>>& expert_projections() const noexcept { return per_expert_; }

    std::vector<parameter<T, B>*> params() {
      std::vector<parameter<T, B>*> p;
      if (shared()) p = {&shared_.down, &shared_.up};
      for (auto& q : per_expert_) p.insert(p.end(), {&q.down, &q.up});
      p.push_back(&keys_);
      return p;
    }
    std::vector<const parameter<T, B>*> params() const {
      std::vector<const parameter<T, B>*> p;
      for (auto* q : const_cast<state*>(this)->params()) p.push_back(q);
      return p;
    }

    /// Adds expert `slot`'s key (and projection), initialised from the new batch's instance
    /// embeddings; every earlier key (and per-expert projection) is frozen.
    void insert(const B& be, size_type slot, matrix_view<const T, space> batch_e) {
      if (batch_e.rows() > 0) beacon::require_extent("kv_anchor_router::insert", "batch_instance_embeddings", "cols (d_model)", batch_e.cols(), d_model_);
      if (per_expert()) {
        for (auto& q : per_expert_) {
          q.down.freeze();
          q.up.freeze();
        }
        per_expert_.push_back(make_projection(be, "router.expert" + std::to_string(slot) + ".", static_cast<std::uint64_t>(slot) + 1));
      }
      keys_.append_rows(be, 1);
      keys_.freeze_rows(slot);
      const auto key = keys_.value().row_block(slot, 1);
      if (opt_.key == key_init::random || batch_e.rows() == 0) {
        parameter<T, B> r(be, "key", {1, key_dim_});
        init_normal(be, r, seed_, 1000 + static_cast<std::uint64_t>(slot), 0.01);
        detail::copy_matrix<T, B>(be, r.value(), key);
        return;
      }
      const size_type n = batch_e.rows();
      auto z = make_buffer<T>(be, n * rank_), a = make_buffer<T>(be, n * rank_), v = make_buffer<T>(be, n * key_dim_);
      project(be, projection_of(per_expert() ? static_cast<size_type>(per_expert_.size()) - 1 : 0), batch_e, z.view().as_matrix(n, rank_), a.view().as_matrix(n, rank_),
              v.view().as_matrix(n, key_dim_));
      const vector_view<T, space> key_vector(key.data(), key_dim_);
      add_column_sums(be, matrix_view<const T, space>(v.view().as_matrix(n, key_dim_)), key_vector);  // the new row starts at 0
      for_each_element(be, 1, key_dim_, kernels::scaled_copy<T, space>{key, T(1) / static_cast<T>(n), key});
      if (opt_.key == key_init::normalized_batch_mean)
        for_each_index(be, 1, kernels::unit_rows<T, space>{key, T(0), key, {}}, key_dim_);
    }

    /// Routes instances e (B x d) over the existing experts; a forced request routes every first
    /// choice to that expert (training_route::forced_to_new during its own step).
    void route(const B& be, matrix_view<const T, space> e, cache<T, B>& c, const route_request& req) const {
      const char* fn = "kv_anchor_router::route";
      const size_type t = experts(), rows = e.rows();
      if (t == 0) beacon::fail(fn, "experts", ">= 1 (insert an expert first)", 0);
      beacon::require_extent(fn, "instance_embeddings", "cols (d_model)", e.cols(), d_model_);
      if (req.forced >= t) beacon::fail(fn, "forced", beacon::concat("an expert id < ", t), req.forced);
      c.e = e;
      c.forced = req.forced;
      c.projections = per_expert() ? t : 1;
      c.route.resize(be, rows, t, std::min(k, t));
      if (rows == 0) return;
      reserve_buffer<T, B>(be, c.z, c.projections * rows * rank_);
      reserve_buffer<T, B>(be, c.a, c.projections * rows * rank_);
      reserve_buffer<T, B>(be, c.v, c.projections * rows * key_dim_);
      const bool cosine = opt_.score == score_function::cosine;
      if (cosine) {
        reserve_buffer<T, B>(be, c.unit_v, c.projections * rows * key_dim_);
        reserve_buffer<T, B>(be, c.v_norm, c.projections * rows);
        reserve_buffer<T, B>(be, c.unit_k, t * key_dim_);
        reserve_buffer<T, B>(be, c.k_norm, t);
        for_each_index(be, t, kernels::unit_rows<T, space>{keys_.value(), T(1e-8), unit_k(c), k_norm(c)}, key_dim_);
      }
      const T scale = opt_.score == score_function::scaled_dot ? T(1) / std::sqrt(static_cast<T>(key_dim_)) : T(1);
      const auto scores = c.route.scores();
      for (size_type p = 0; p < c.projections; ++p) {
        project(be, projection_of(p), e, z(c, p), a(c, p), v(c, p));
        if (cosine) for_each_index(be, rows, kernels::unit_rows<T, space>{v(c, p), T(1e-8), unit_v(c, p), v_norm(c, p)}, key_dim_);
        const matrix_view<const T, space> lhs = cosine ? unit_v(c, p) : v(c, p);
        const matrix_view<const T, space> keys = cosine ? matrix_view<const T, space>(unit_k(c)) : keys_.value();
        if (!per_expert()) gemm(be, transpose::no, transpose::yes, scale, lhs, keys, T(0), scores);
        else gemm(be, transpose::no, transpose::yes, scale, lhs, keys.row_block(p, 1), T(0), column(scores, p));
      }
      detail::softmax_select(be, c.route, opt_.gate);
      if (req.forced >= 0)
        for_each_index(be, rows,
                       kernels::force_route<T, space>{c.route.probs(), req.forced, opt_.gate == gate_norm::renormalize_top_k, false,
                                                      c.route.gates(), c.route.ids()},
                       c.route.k);
      else if (opt_.null_route)
        for_each_index(be, rows,
                       kernels::null_route<T, space>{c.route.scores(), static_cast<T>(opt_.null_threshold), c.route.gates(), c.route.ids()}, t);
    }

    /// Accumulates gradients of the trainable router parameters from dL/dgates (B x k).
    void backward(const B& be, cache<T, B>& c, matrix_view<const T, space> dgates, buffer_t<T, B>& scratch) {
      const size_type rows = c.route.rows, t = c.route.experts, kk = c.route.k;
      if (rows == 0) return;
      // Forced routing: the gates after the first are the constant 0, and a renormalised first gate
      // is the constant 1; only an un-renormalised first gate (= p_forced) depends on the scores.
      if (c.forced >= 0 && opt_.gate == gate_norm::renormalize_top_k) return;
      reserve_buffer<T, B>(be, scratch, rows * t + rows * kk);
      const matrix_view<T, space> ds(scratch.view().data(), rows, t);
      matrix_view<const T, space> dg = dgates;
      if (c.forced >= 0 && kk > 1) {
        const matrix_view<T, space> live(scratch.view().data() + rows * t, rows, kk);
        fill(be, T(0), live);
        detail::copy_matrix<T, B>(be, matrix_view<const T, space>(dgates.data(), rows, 1, kk), matrix_view<T, space>(live.data(), rows, 1, kk));
        dg = live;
      }
      detail::score_gradient(be, c.route, dg, opt_.gate, ds);
      backward_scores(be, c, ds);
    }

    /// Routing replay (spec §12, beyond the paper): the cross-entropy of the router's softmax over
    /// all experts against the expert each stored instance was edited into. Accumulates the gradient
    /// of weight * mean CE into the trainable keys and projection and returns the mean CE.
    double replay(const B& be, matrix_view<const T, space> e, const std::vector<index_type>& labels, double weight) {
      const char* fn = "kv_anchor_router::replay";
      if (static_cast<size_type>(labels.size()) != e.rows())
        beacon::fail<shape_error>(fn, "labels", beacon::concat(e.rows(), " entries (one per instance)"), labels.size());
      if (!std::isfinite(weight) || weight < 0) beacon::fail(fn, "weight", ">= 0 and finite", weight);
      const size_type t = experts(), rows = e.rows();
      for (index_type l : labels)
        if (l < 0 || l >= t) beacon::fail(fn, "labels", beacon::concat("expert ids in [0, ", t, ")"), l);
      if (rows == 0) return 0.0;
      cache<T, B> c;
      route(be, e, c, {});
      auto ids = make_buffer<index_type>(be, rows);
      upload(be, labels, ids.view());
      auto ds = make_buffer<T>(be, rows * t), picked = make_buffer<T>(be, rows);
      for_each_index(be, rows,
                     kernels::replay_gradient<T, space>{c.route.probs(), vector_view<const index_type, space>(ids.view()),
                                                        static_cast<T>(weight / static_cast<double>(rows)), ds.view().as_matrix(rows, t),
                                                        picked.view()},
                     t);
      const auto p = download(be, vector_view<const T, space>(picked.view()));
      double ce = 0;
      for (T v : p) ce -= std::log(std::max(static_cast<double>(v), 1e-300));
      backward_scores(be, c, ds.view().as_matrix(rows, t));
      return ce / static_cast<double>(rows);
    }

   private:
    [[nodiscard]] bool shared() const noexcept { return opt_.projection == projection_mode::shared_retrained; }
    [[nodiscard]] bool per_expert() const noexcept { return opt_.projection == projection_mode::per_expert_frozen; }
    [[nodiscard]] bool identity() const noexcept { return opt_.projection == projection_mode::identity; }
    /// Projection p (the shared one, or expert p's); null with projection_mode::identity.
    const projection<T, B>* projection_of(size_type p) const {
      if (identity()) return nullptr;
      return shared() ? &shared_ : &per_expert_[static_cast<std::size_t>(p)];
    }
    projection<T, B>* projection_of(size_type p) {
      if (identity()) return nullptr;
      return shared() ? &shared_ : &per_expert_[static_cast<std::size_t>(p)];
    }

    projection<T, B> make_projection(const B& be, const std::string& prefix, std::uint64_t id) const {
      projection<T, B> p{parameter<T, B>(be, prefix + "w_down", {rank_, d_model_}), parameter<T, B>(be, prefix + "w_up", {key_dim_, rank_})};
      const double down_scale = opt_.init_scale > 0 ? opt_.init_scale : 1.0 / std::sqrt(static_cast<double>(d_model_));
      const double up_scale = opt_.init_scale > 0 ? opt_.init_scale : 1.0 / std::sqrt(static_cast<double>(rank_));
      init_normal(be, p.down, seed_, 5000 + 2 * id, down_scale);
      init_normal(be, p.up, seed_, 5001 + 2 * id, up_scale);
      return p;
    }

    /// z = e W_down^T, a = SiLU(z), v = a W_up^T; without a projection v = e.
    void project(const B& be, const projection<T, B>* p, matrix_view<const T, space> e, matrix_view<T, space> z, matrix_view<T, space> a,
                 matrix_view<T, space> v) const {
      if (!p) {
        detail::copy_matrix<T, B>(be, e, v);
        return;
      }
      gemm(be, transpose::no, transpose::yes, T(1), e, p->down.value(), T(0), z);
      bias_activation(be, activation::silu, vector_view<const T, space>(), z, a);
      gemm(be, transpose::no, transpose::yes, T(1), matrix_view<const T, space>(a), p->up.value(), T(0), v);
    }

    /// Gradients of the trainable keys and projections from dL/dscores (B x t).
    void backward_scores(const B& be, cache<T, B>& c, matrix_view<T, space> ds) {
      const size_type rows = c.route.rows, t = c.route.experts;
      const bool cosine = opt_.score == score_function::cosine;
      const T scale = opt_.score == score_function::scaled_dot ? T(1) / std::sqrt(static_cast<T>(key_dim_)) : T(1);
      auto dv = make_buffer<T>(be, rows * key_dim_);
      const auto dvm = dv.view().as_matrix(rows, key_dim_);
      auto tmp = make_buffer<T>(be, std::max(rows, t) * key_dim_ + rows + t);
      const auto ds_c = matrix_view<const T, space>(ds);
      const auto scores = c.route.scores();
      for (size_type p = 0; p < c.projections; ++p) {
        // The block of experts scored against projection p: all of them (shared) or expert p.
        const bool all = !per_expert();
        const size_type first = all ? 0 : p, count = all ? t : 1;
        const auto ds_block = all ? ds_c : matrix_view<const T, space>(column(ds, p));
        const auto s_block = all ? matrix_view<const T, space>(scores) : matrix_view<const T, space>(column(scores, p));
        const size_type trainable_first = std::max(first, keys_.frozen_rows());
        const size_type trainable = std::max<size_type>(0, first + count - trainable_first);  // key rows of this block that train
        const auto key_grad = trainable > 0 ? keys_.grad().row_block(trainable_first, trainable) : matrix_view<T, space>();
        const auto ds_train = sub_columns(ds_block, trainable_first - first, trainable);
        projection<T, B>* q = projection_of(p);
        const bool projection_trains = q && (q->down.trainable() || q->up.trainable());
        if (!cosine) {
          if (trainable > 0) gemm(be, transpose::yes, transpose::no, scale, ds_train, matrix_view<const T, space>(v(c, p)), T(1), key_grad);
          if (projection_trains)
            gemm(be, transpose::no, transpose::no, scale, ds_block, keys_.value().row_block(first, count), T(0), dvm);
        } else {
          const auto uk = matrix_view<const T, space>(unit_k(c)).row_block(first, count);
          const vector_view<T, space> dots(tmp.view().data() + std::max(rows, t) * key_dim_, rows + t);
          if (trainable > 0) {
            const matrix_view<T, space> g(tmp.view().data(), trainable, key_dim_);
            gemm(be, transpose::yes, transpose::no, T(1), ds_train, matrix_view<const T, space>(unit_v(c, p)), T(0), g);
            for_each_index(be, trainable,
                           kernels::column_dot<T, space>{ds_train, sub_columns(s_block, trainable_first - first, trainable),
                                                         vector_view<T, space>(dots.data(), trainable)},
                           rows);
            for_each_element(be, trainable, key_dim_,
                             kernels::cosine_backward<T, space>{matrix_view<const T, space>(g), uk.row_block(trainable_first - first, trainable),
                                                                vector_view<const T, space>(dots.data(), trainable),
                                                                vector_view<const T, space>(k_norm(c).data() + trainable_first, trainable), key_grad,
                                                                true});
          }
          if (projection_trains) {
            const matrix_view<T, space> g(tmp.view().data(), rows, key_dim_);
            gemm(be, transpose::no, transpose::no, T(1), ds_block, uk, T(0), g);
            row_dot(be, ds_block, s_block, vector_view<T, space>(dots.data(), rows));
            for_each_element(be, rows, key_dim_,
                             kernels::cosine_backward<T, space>{matrix_view<const T, space>(g), matrix_view<const T, space>(unit_v(c, p)),
                                                                vector_view<const T, space>(dots.data(), rows),
                                                                vector_view<const T, space>(v_norm(c, p)), dvm, false});
          }
        }
        if (projection_trains) projection_backward(be, *q, c.e, z(c, p), a(c, p), matrix_view<const T, space>(dvm));
      }
    }

    /// dW_up += dv^T a;  dW_down += (dv W_up * SiLU'(z))^T e.
    void projection_backward(const B& be, projection<T, B>& q, matrix_view<const T, space> e, matrix_view<T, space> z, matrix_view<T, space> a,
                             matrix_view<const T, space> dv) {
      const size_type rows = e.rows();
      if (q.up.trainable()) gemm(be, transpose::yes, transpose::no, T(1), dv, matrix_view<const T, space>(a), T(1), q.up.grad());
      if (!q.down.trainable()) return;
      auto du = make_buffer<T>(be, 2 * rows * rank_);
      const matrix_view<T, space> dum(du.view().data(), rows, rank_), dz(du.view().data() + rows * rank_, rows, rank_);
      gemm(be, transpose::no, transpose::no, T(1), dv, q.up.value(), T(0), dum);
      activation_backward(be, activation::silu, matrix_view<const T, space>(z), matrix_view<const T, space>(dum), dz);
      gemm(be, transpose::yes, transpose::no, T(1), matrix_view<const T, space>(dz), e, T(1), q.down.grad());
    }

    template <class M>
    static M column(M m, size_type i) {
      return M(m.data() + i, m.rows(), 1, m.ld());
    }
    static matrix_view<const T, space> sub_columns(matrix_view<const T, space> m, size_type first, size_type count) {
      if (count == 0) return {};
      return {m.data() + first, m.rows(), count, m.ld()};
    }
    matrix_view<T, space> z(cache<T, B>& c, size_type p) const { return {c.z.view().data() + p * c.route.rows * rank_, c.route.rows, rank_}; }
    matrix_view<T, space> a(cache<T, B>& c, size_type p) const { return {c.a.view().data() + p * c.route.rows * rank_, c.route.rows, rank_}; }
    matrix_view<T, space> v(cache<T, B>& c, size_type p) const {
      return {c.v.view().data() + p * c.route.rows * key_dim_, c.route.rows, key_dim_};
    }
    matrix_view<T, space> unit_v(cache<T, B>& c, size_type p) const {
      return {c.unit_v.view().data() + p * c.route.rows * key_dim_, c.route.rows, key_dim_};
    }
    vector_view<T, space> v_norm(cache<T, B>& c, size_type p) const { return {c.v_norm.view().data() + p * c.route.rows, c.route.rows}; }
    matrix_view<T, space> unit_k(cache<T, B>& c) const { return {c.unit_k.view().data(), c.route.experts, key_dim_}; }
    vector_view<T, space> k_norm(cache<T, B>& c) const { return {c.k_norm.view().data(), c.route.experts}; }

    size_type d_model_ = 0, rank_ = 0, key_dim_ = 0;
    options opt_;
    std::uint64_t seed_ = 0;
    projection<T, B> shared_;
    std::vector<projection<T, B>> per_expert_;
    parameter<T, B> keys_;
  };
};

}  // namespace beacon::moe
