// SPDX-License-Identifier: Apache-2.0
#pragma once
// The lifelong-editing MoE adaptor (LEMoE): experts beside one frozen FFN, one new expert per
// editing step with every earlier expert (and key) frozen, routed by a router policy:
//
//   h(x) = FFN_0(x) + lambda * sum_i g(i | e) f_i(x)        (the adaptor computes the sum term)
//
//   using A = beacon::moe::adaptor<float, kv_anchor_router<top_k<1>>, swiglu_expert>;
//   A a(be, {.d_model = 1024, .expert_hidden = 2816, .router_rank = 256});
//   a.insert_expert(expert_init<float>::copy_of({w_gate, w_up}), batch_instance_embeddings);
//   a.train_step(x, e, loss_and_gradient, optimizer);   // only the new expert / key / router train
//   a.forward(x, e, out);                               // out = lambda * sum g f(x); add FFN_0(x) yourself
//
// Layout: x is (B*L) x d token rows, instance b owning rows b*L .. b*L+L-1; e is B x d instance
// embeddings (masked_mean_pool of frozen token embeddings). Token-level routers ignore e.

#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include <beacon/backend/cpu.hpp>
#include "dispatch.hpp"
#include "expert_common.hpp"
#include "parameter.hpp"

namespace beacon::oracle {

template <class T, class Router, class Expert, class Backend = cpu>
class adaptor {
  static_assert(std::is_same_v<Backend, cpu>, "beacon::moe::adaptor: only the CPU backend is implemented so far");
  static_assert(std::is_floating_point_v<T>, "beacon::moe::adaptor: T must be float or double");

 public:
  using scalar = T;
  using router_type = Router;
  using expert_type = Expert;
  using expert_state = typename Expert::template state<T>;
  using router_state = typename Router::template state<T>;

  struct config {
    size_type d_model = 0;
    size_type expert_hidden = 0;
    size_type router_rank = 0;  ///< projection bottleneck d_p (kv router); 0 = d/4
    size_type key_dim = 0;      ///< key width (kv router); 0 = d_model
    double lambda = 1.0;
    typename Router::options router{};
    std::uint64_t seed = 0;
    bool freeze_earlier_experts = true;  ///< LEMoE; false = the conventional MoE adaptor (every expert trains)
  };

  /// Everything a backward pass needs from the forward pass.
  struct forward_state {
    typename Router::template cache<T> route;
    dispatch_plan plan;
    size_type tokens = 0, tokens_per_route = 1;
    std::vector<row_matrix<T>> x, y;                       // per expert: gathered inputs and outputs
    std::vector<typename Expert::template cache<T>> cache;  // per expert
  };

  adaptor(const Backend& be, const config& c) : be_(be), cfg_(c) {
    if (c.d_model < 1) beacon::detail::fail("adaptor", "config.d_model", ">= 1", c.d_model);
    if (c.expert_hidden < 1) beacon::detail::fail("adaptor", "config.expert_hidden", ">= 1", c.expert_hidden);
    if (!std::isfinite(c.lambda) || c.lambda < 0) beacon::detail::fail("adaptor", "config.lambda", ">= 0 and finite", c.lambda);
    router_ = Router::template make<T>(c.d_model, c.router_rank, c.key_dim, c.router, c.seed);
  }

  [[nodiscard]] const config& settings() const noexcept { return cfg_; }
  [[nodiscard]] size_type experts() const noexcept { return static_cast<size_type>(experts_.size()); }
  [[nodiscard]] const expert_state& expert(size_type i) const { return experts_.at(static_cast<std::size_t>(i)); }
  [[nodiscard]] router_state& router() noexcept { return router_; }
  [[nodiscard]] const router_state& router() const noexcept { return router_; }

  /// Adds expert t (= experts() before the call) and freezes every earlier expert. The KV router
  /// initialises the new key from `batch_instance_embeddings` (the new batch's e rows).
  size_type insert_expert(const expert_init<T>& init, matrix_view<const T, host_space> batch_instance_embeddings = {}) {
    const size_type slot = experts();
    if (cfg_.freeze_earlier_experts)
      for (auto& e : experts_)
        for (auto* p : e.params()) p->frozen = true;
    expert_state st = Expert::template make<T>({cfg_.d_model, cfg_.expert_hidden}, "expert" + std::to_string(slot) + ".");
    Expert::init(st, init, static_cast<std::uint64_t>(slot));
    experts_.push_back(std::move(st));
    if (batch_instance_embeddings.rows() > 0 && batch_instance_embeddings.cols() != cfg_.d_model)
      beacon::detail::fail<shape_error>("adaptor::insert_expert", "batch_instance_embeddings", beacon::detail::concat(cfg_.d_model, " columns"),
                                        batch_instance_embeddings.cols());
    const row_matrix<T> e = batch_instance_embeddings.rows() > 0 ? row_matrix<T>(as_eigen(batch_instance_embeddings)) : row_matrix<T>(0, cfg_.d_model);
    Router::template insert<T>(router_, slot, e, cfg_.seed);
    return slot;
  }

  /// out = lambda * sum_i g(i|.) f_i(x). `forced` >= 0 routes the first choice to that expert
  /// (kv router, training_route::forced_to_new); `training` enables router noise.
  void forward(matrix_view<const T, host_space> x, matrix_view<const T, host_space> e, matrix_view<T, host_space> out,
               forward_state* keep = nullptr, size_type forced = -1, bool training = false) {
    const char* fn = "adaptor::forward";
    if (experts() == 0) beacon::detail::fail(fn, "experts", ">= 1 (call insert_expert first)", 0);
    beacon::detail::require_extent(fn, "x", "cols (d_model)", x.cols(), cfg_.d_model);
    beacon::detail::require_same_shape(fn, "out", x, out);
    forward_state local;
    forward_state& st = keep ? *keep : local;
    st.tokens = x.rows();
    if constexpr (Router::instance_level) {
      beacon::detail::require_extent(fn, "e", "cols (d_model)", e.cols(), cfg_.d_model);
      if (e.rows() < 1 || x.rows() % e.rows() != 0)
        beacon::detail::fail<shape_error>(fn, "e", beacon::detail::concat("a row count dividing x.rows (", x.rows(), ")"), e.rows());
      st.tokens_per_route = x.rows() / e.rows();
      Router::template route<T>(router_, as_eigen(e), st.route, forced);
    } else {
      st.tokens_per_route = 1;
      Router::template route<T>(router_, as_eigen(x), st.route, training);
    }
    st.plan = make_dispatch(be_, st.route.route.ids, st.route.route.k, experts(), x.rows(), st.tokens_per_route);
    auto o = as_eigen(out);
    o.setZero();
    st.x.resize(experts_.size());
    st.y.resize(experts_.size());
    st.cache.resize(experts_.size());
    const auto xm = as_eigen(x);
    for (size_type i = 0; i < experts(); ++i) {
      const auto lo = st.plan.offsets[static_cast<std::size_t>(i)], hi = st.plan.offsets[static_cast<std::size_t>(i + 1)];
      auto& xi = st.x[static_cast<std::size_t>(i)];
      auto& yi = st.y[static_cast<std::size_t>(i)];
      xi.resize(hi - lo, cfg_.d_model);
      yi.resize(hi - lo, cfg_.d_model);
      if (hi == lo) continue;
      for (index_type q = lo; q < hi; ++q) xi.row(q - lo) = xm.row(st.plan.token[static_cast<std::size_t>(q)]);
      Expert::template forward<T>(experts_[static_cast<std::size_t>(i)], xi, yi, st.cache[static_cast<std::size_t>(i)]);
      for (index_type q = lo; q < hi; ++q) {
        const index_type t = st.plan.token[static_cast<std::size_t>(q)];
        o.row(t) += static_cast<T>(cfg_.lambda) * gate_of(st, q) * yi.row(q - lo);
      }
    }
  }

  /// Accumulates dL/dparameters of every trainable parameter from dL/dout.
  void backward(forward_state& st, matrix_view<const T, host_space> dout) {
    beacon::detail::require_extent("adaptor::backward", "dout", "rows (forward tokens)", dout.rows(), st.tokens);
    beacon::detail::require_extent("adaptor::backward", "dout", "cols (d_model)", dout.cols(), cfg_.d_model);
    const auto dm = as_eigen(dout);
    const T lambda = static_cast<T>(cfg_.lambda);
    std::vector<T> dgates(st.route.route.gates.size(), T(0));
    for (size_type i = 0; i < experts(); ++i) {
      const auto lo = st.plan.offsets[static_cast<std::size_t>(i)], hi = st.plan.offsets[static_cast<std::size_t>(i + 1)];
      if (hi == lo) continue;
      row_matrix<T> dy(hi - lo, cfg_.d_model);
      const auto& yi = st.y[static_cast<std::size_t>(i)];
      for (index_type q = lo; q < hi; ++q) {
        const index_type t = st.plan.token[static_cast<std::size_t>(q)];
        dy.row(q - lo) = lambda * gate_of(st, q) * dm.row(t);
        dgates[gate_index(st, q)] += lambda * dm.row(t).dot(yi.row(q - lo));
      }
      auto& ex = experts_[static_cast<std::size_t>(i)];
      bool trainable = false;
      for (const auto* p : ex.params()) trainable |= !p->frozen;
      if (trainable) Expert::template backward<T>(ex, st.x[static_cast<std::size_t>(i)], st.cache[static_cast<std::size_t>(i)], dy, nullptr);
    }
    Router::backward(router_, st.route, dgates);
  }

  /// Every parameter (router first, then experts in order).
  std::vector<parameter<T>*> parameters() {
    std::vector<parameter<T>*> p = router_.params();
    for (auto& e : experts_)
      for (auto* q : e.params()) p.push_back(q);
    return p;
  }

  void zero_grad() {
    for (auto* p : parameters()) p->zero_grad();
  }

  /// One AdamW update of every trainable parameter (frozen ones keep their exact bytes).
  void step(adamw& opt) {
    opt.next_step();
    for (auto* p : parameters()) adamw_update(opt, *p);
  }

  /// zero_grad, forward, loss(out, dout) -> loss value (fills dL/dout), backward, step.
  double train_step(matrix_view<const T, host_space> x, matrix_view<const T, host_space> e,
                    const std::function<double(matrix_view<const T, host_space>, matrix_view<T, host_space>)>& loss, adamw& opt,
                    size_type forced = -1) {
    zero_grad();
    forward_state st;
    row_matrix<T> out(x.rows(), cfg_.d_model), dout(x.rows(), cfg_.d_model);
    forward(x, e, as_view(out), &st, forced, true);
    const double value = loss(as_view(std::as_const(out)), as_view(dout));
    backward(st, as_view(std::as_const(dout)));
    step(opt);
    return value;
  }

  /// Routing replay (routers with a `replay`, e.g. kv_anchor_router): accumulates the gradient of
  /// weight * the router's cross-entropy on instance embeddings e (rows) against the experts they
  /// were edited into (labels); returns that mean CE. Call between backward() and step():
  ///   a.zero_grad(); a.forward(x, e, out, &st, -1, true); ...; a.backward(st, dout);
  ///   a.routing_replay(seen_e, seen_expert, 1.0); a.step(opt);
  double routing_replay(matrix_view<const T, host_space> e, const std::vector<index_type>& labels, double weight = 1.0)
    requires requires(router_state& s, const row_matrix<T>& rows, const std::vector<index_type>& ids) { Router::template replay<T>(s, rows, ids, 1.0); }
  {
    beacon::detail::require_extent("adaptor::routing_replay", "e", "cols (d_model)", e.cols(), cfg_.d_model);
    return Router::template replay<T>(router_, as_eigen(e), labels, weight);
  }

  /// Top-1 expert of each routing row (instances, or tokens for token-level routers); -1 = none.
  std::vector<index_type> route_top1(matrix_view<const T, host_space> rows) {
    typename Router::template cache<T> c;
    if constexpr (Router::instance_level) Router::template route<T>(router_, as_eigen(rows), c, -1);
    else Router::template route<T>(router_, as_eigen(rows), c, false);
    std::vector<index_type> top(static_cast<std::size_t>(rows.rows()));
    for (size_type b = 0; b < rows.rows(); ++b) top[static_cast<std::size_t>(b)] = c.route.id(b, 0);
    return top;
  }

  /// Routing consistency (spec §4.4): the share of edits of step i whose top-1 expert is i.
  /// batches[i] holds step i's routing rows.
  double routing_consistency(const std::vector<matrix_view<const T, host_space>>& batches) {
    size_type hits = 0, total = 0;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      const auto top = route_top1(batches[i]);
      for (index_type id : top) hits += id == static_cast<index_type>(i);
      total += static_cast<size_type>(top.size());
    }
    return total > 0 ? static_cast<double>(hits) / static_cast<double>(total) : 0.0;
  }

  /// Tokens routed to each expert in a forward pass (load statistics).
  static std::vector<index_type> expert_load(const forward_state& st) { return st.plan.counts; }

 private:
  static std::size_t gate_index(const forward_state& st, index_type q) {
    const index_type t = st.plan.token[static_cast<std::size_t>(q)];
    return static_cast<std::size_t>((t / st.tokens_per_route) * st.route.route.k + st.plan.choice[static_cast<std::size_t>(q)]);
  }
  static T gate_of(const forward_state& st, index_type q) { return st.route.route.gates[gate_index(st, q)]; }

  Backend be_;
  config cfg_;
  router_state router_;
  std::vector<expert_state> experts_;
};

}  // namespace beacon::oracle
