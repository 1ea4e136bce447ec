// SPDX-License-Identifier: Apache-2.0
#pragma once
// The lifelong-editing MoE adaptor (LEMoE), written once over the backend: experts beside one
// frozen FFN, one new expert per editing step with every earlier expert (and key) frozen, routed
// by a router policy:
//
//   h(x) = FFN_0(x) + lambda * sum_i g(i | e) f_i(x)        (the adaptor computes the sum term)
//
//   using A = beacon::moe::adaptor<float, kv_anchor_router<top_k<1>>, swiglu_expert, beacon::cpu>;  // or beacon::cuda
//   A a(be, {.d_model = 1024, .expert_hidden = 2816, .router_rank = 256});
//   a.insert_expert(expert_init<float>::copy_of({w_gate, w_up}), batch_instance_embeddings);
//   a.train_step(x, e, loss_and_gradient, optimizer);   // only the new expert / key / router train
//   a.forward(x, e, out);                               // out = lambda * sum g f(x); add FFN_0(x) yourself
//
// Layout: x is (B*L) x d token rows, instance b owning rows b*L .. b*L+L-1; e is B x d instance
// embeddings (masked_mean_pool of frozen token embeddings). Token-level routers ignore e. All views
// are in the backend's memory space (host views for beacon::cpu, device views for beacon::cuda).
//
// Serving (instance-level routers): sequences of different lengths go in one call with host
// `sequence_offsets` (B + 1 of them: sequence b owns rows [offsets[b], offsets[b+1]), 0-length
// sequences allowed); and a route computed once per sequence (route(e), from its prompt's instance
// embedding) is passed to every later forward of that sequence, e.g. each one-token decode step:
//
//   const auto kept = a.route(e_prompts);                  // B sequences, routed once
//   a.forward(x_prompts, prompt_offsets, kept, out, st);   // the prompts, ragged
//   a.forward(x_step, step_offsets, kept, out_step, st);   // one token per live sequence (finished ones: length 0)
//
// The paper routes each instance by its embedding e alone, never by the generated tokens, so a kept
// route equals what routing again would give: reusing it is exact, not an approximation. A const
// forward with its own forward_state may run from several threads at once on one adaptor.
//
// One forward: route (router policy) -> group the (token, choice) pairs by expert -> gather rows ->
// every expert over its group (one GEMM per layer and expert) -> gate-weighted combine. The expert
// group sizes are downloaded once per forward (GEMM sizes are host values); nothing else waits.

#include <algorithm>
#include <functional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../backend/contract.hpp"
#include "../backend/transfer.hpp"
#include "../core/adamw.hpp"
#include "dispatch.hpp"
#include "expert_common.hpp"
#include "routing.hpp"
#include "token_routes.hpp"

namespace beacon::moe {

/// The adaptor needs every primitive group of the backend contract (backend/contract.hpp); a backend
/// that lacks one fails here, naming the group and the missing call.
template <class T, class Router, class Expert, class Backend>
  requires complete_backend<Backend, T>
class adaptor {
  static_assert(std::is_floating_point_v<T>, "beacon::moe::adaptor: T must be float or double");
  static_assert(beacon::backend<Backend>, "beacon::moe::adaptor: Backend must satisfy beacon::backend (e.g. beacon::cpu, beacon::cuda)");

 public:
  using scalar = T;
  using router_type = Router;
  using expert_type = Expert;
  using backend_type = Backend;
  using space = typename Backend::memory_space;
  using router_state = typename Router::template state<T, Backend>;
  using parameter_type = parameter<T, Backend>;
  using expert_parameters_type = expert_parameters<T, Backend>;
  using init_type = expert_init<T, space>;
  /// A routing of instances kept for later forward calls (route(e)): ids and gates per instance.
  using route_type = routing<T, Backend>;
  /// loss(out, dL/dout) -> loss value: fills the gradient, both views in the backend's space.
  using loss_function = std::function<double(matrix_view<const T, space>, matrix_view<T, space>)>;

  struct config {
    size_type d_model = 0;
    size_type expert_hidden = 0;  ///< FFN width of SwiGLU / MLP experts (LoRA experts use their rank)
    size_type router_rank = 0;    ///< projection bottleneck d_p (kv router); 0 = d/4
    size_type key_dim = 0;        ///< key width (kv router); 0 = d_model
    double lambda = 1.0;
    typename Router::options router{};
    std::uint64_t seed = 0;
    bool freeze_earlier_experts = true;  ///< LEMoE; false = the conventional MoE adaptor (every expert trains)
  };

  /// Everything a backward pass needs from a forward pass (buffers are reused by later forwards).
  /// The caller's x (and, for token-level routers, the routed rows) must stay alive and unchanged
  /// until backward.
  struct forward_state {
    typename Router::template cache<T, Backend> route;
    size_type tokens = 0, tokens_per_route = 1, routed = 0;
    bool ragged = false;      ///< tokens split by sequence_offsets (else tokens_per_route each)
    bool kept_route = false;  ///< the forward used a caller's kept route (inference only: no backward)
    /// Ragged layout, [sequence offsets (rows + 1) | routing row of each token (tokens)]: staged on
    /// the host, uploaded in one copy (one per decode step), read by the kernels (token_routes.hpp).
    std::vector<index_type> host_ragged_layout;
    buffer_t<index_type, Backend> ragged_layout;
    std::vector<index_type> offsets;  ///< host copy: grouped rows of expert i are [offsets[i], offsets[i+1])
    buffer_t<index_type, Backend> offset_buffer, pair_token, pair_choice, position;
    buffer_t<T, Backend> x_grouped, y_grouped, expert_cache, dy_grouped, dgates, router_scratch;
    buffer_t<double, Backend> workspace;  ///< scratch of dispatch and gate gradients: no shared arena
  };

  adaptor(const Backend& be, const config& c) : be_(be), cfg_(c) {
    const char* fn = "adaptor";
    if (c.d_model < 1) beacon::fail(fn, "config.d_model", ">= 1", c.d_model);
    if (c.expert_hidden < 1) beacon::fail(fn, "config.expert_hidden", ">= 1", c.expert_hidden);
    if (!std::isfinite(c.lambda) || c.lambda < 0) beacon::fail(fn, "config.lambda", ">= 0 and finite", c.lambda);
    router_ = router_state(be_, c.d_model, c.router_rank, c.key_dim, c.router, c.seed);
  }

  [[nodiscard]] const config& settings() const noexcept { return cfg_; }
  [[nodiscard]] const Backend& get_backend() const noexcept { return be_; }
  [[nodiscard]] size_type experts() const noexcept { return static_cast<size_type>(experts_.size()); }
  [[nodiscard]] const expert_parameters_type& expert(size_type i) const { return experts_.at(static_cast<std::size_t>(i)); }
  [[nodiscard]] router_state& router() noexcept { return router_; }
  [[nodiscard]] const router_state& router() const noexcept { return router_; }

  /// Adds expert t (= experts() before the call) and, with freeze_earlier_experts, freezes every
  /// earlier expert. Routers with keys or anchors initialise them from `batch_instance_embeddings`
  /// (the new batch's e rows; may be empty).
  size_type insert_expert(const init_type& init, matrix_view<const T, space> batch_instance_embeddings = {}) {
    const size_type slot = experts();
    if (batch_instance_embeddings.rows() > 0 && batch_instance_embeddings.cols() != cfg_.d_model)
      beacon::fail<shape_error>("adaptor::insert_expert", "batch_instance_embeddings", beacon::concat(cfg_.d_model, " columns"),
                                        batch_instance_embeddings.cols());
    expert_parameters_type fresh = Expert::template make<T, Backend>(be_, {cfg_.d_model, cfg_.expert_hidden}, "expert" + std::to_string(slot) + ".");
    Expert::template init<T, Backend>(be_, fresh, init, static_cast<std::uint64_t>(slot));
    router_.insert(be_, slot, batch_instance_embeddings);
    if (cfg_.freeze_earlier_experts)
      for (auto& e : experts_)
        for (auto& p : e) p.freeze();
    experts_.push_back(std::move(fresh));
    return slot;
  }

  /// Inference: out = lambda * sum_i g(i|.) f_i(x).
  void forward(matrix_view<const T, space> x, matrix_view<const T, space> e, matrix_view<T, space> out) const {
    forward_state st;
    run_forward(x, {}, e, out, st, {});
  }
  /// Inference that keeps what backward needs in `st` (routing by score, no router noise).
  void forward(matrix_view<const T, space> x, matrix_view<const T, space> e, matrix_view<T, space> out, forward_state& st) const {
    run_forward(x, {}, e, out, st, {});
  }
  /// Inference on a ragged batch: sequence b owns token rows [sequence_offsets[b],
  /// sequence_offsets[b+1]) of x and is routed by e's row b (host offsets: e.rows() + 1 of them,
  /// from 0 to x.rows(), nondecreasing).
  void forward(matrix_view<const T, space> x, std::span<const index_type> sequence_offsets, matrix_view<const T, space> e,
               matrix_view<T, space> out, forward_state& st) const
    requires Router::instance_level
  {
    run_forward(x, sequence_offsets, e, out, st, {});
  }
  /// Training forward: router noise on, and `forced` >= 0 routes every first choice to that expert
  /// (training_route::forced_to_new: an editing step's own batch goes to its new expert).
  void forward_train(matrix_view<const T, space> x, matrix_view<const T, space> e, matrix_view<T, space> out, forward_state& st,
                     index_type forced = -1) {
    run_forward(x, {}, e, out, st, route_request{forced, true, ++noise_calls_});
  }
  /// Training forward on a ragged batch (offsets as in the ragged forward).
  void forward_train(matrix_view<const T, space> x, std::span<const index_type> sequence_offsets, matrix_view<const T, space> e,
                     matrix_view<T, space> out, forward_state& st, index_type forced = -1)
    requires Router::instance_level
  {
    run_forward(x, sequence_offsets, e, out, st, route_request{forced, true, ++noise_calls_});
  }

  /// Routes instances e (B x d) once, for inference (no noise): keep the result for the sequences'
  /// later forward calls. It stays valid until the next insert_expert (forward checks).
  [[nodiscard]] route_type route(matrix_view<const T, space> e) const
    requires Router::instance_level
  {
    beacon::require_extent("adaptor::route", "e", "cols (d_model)", e.cols(), cfg_.d_model);
    if (experts() == 0) beacon::fail("adaptor::route", "experts", ">= 1 (call insert_expert first)", 0);
    typename Router::template cache<T, Backend> c;
    router_.route(be_, e, c, {});
    return std::move(c.route);
  }
  /// Inference with a kept route: x holds route.rows sequences of x.rows() / route.rows tokens each.
  void forward(matrix_view<const T, space> x, const route_type& kept, matrix_view<T, space> out, forward_state& st) const
    requires Router::instance_level
  {
    run_forward_kept(x, {}, kept, out, st);
  }
  /// Inference with a kept route on a ragged batch (offsets: kept.rows + 1 of them), e.g. one decode
  /// step: every live sequence 1 token, every finished one 0.
  void forward(matrix_view<const T, space> x, std::span<const index_type> sequence_offsets, const route_type& kept,
               matrix_view<T, space> out, forward_state& st) const
    requires Router::instance_level
  {
    run_forward_kept(x, sequence_offsets, kept, out, st);
  }

  /// Accumulates dL/dparameters of every trainable parameter from dL/dout.
  void backward(forward_state& st, matrix_view<const T, space> dout) {
    const char* fn = "adaptor::backward";
    beacon::require_extent(fn, "dout", "rows (forward tokens)", dout.rows(), st.tokens);
    beacon::require_extent(fn, "dout", "cols (d_model)", dout.cols(), cfg_.d_model);
    if (st.offsets.empty()) beacon::fail(fn, "state", "a state filled by forward", "an empty state");
    if (st.kept_route) beacon::fail(fn, "state", "a state of forward or forward_train (routing computed in the call)", "a forward with a kept route (inference only)");
    const auto& r = st.route.route;
    const size_type d = cfg_.d_model, p = st.routed;
    const auto gates = r.gates();
    reserve_buffer<T, Backend>(be_, st.dgates, r.rows * r.k);
    const matrix_view<T, space> dgates(st.dgates.view().data(), r.rows, r.k);
    if (r.rows > 0) fill(be_, T(0), dgates);
    const auto d_view = dispatch(st);
    const auto lambda = static_cast<T>(cfg_.lambda);
    if (p > 0) {
      if (router_trains()) {
        auto workspace = workspace_in(st, pair_gate_gradients_workspace_bytes<T>(p, d));
        pair_gate_gradients(be_, dout, matrix_view<const T, space>(st.y_grouped.view().data(), p, d), d_view, p, routes_of(st), lambda,
                            dgates, workspace);
      }
      if (experts_train()) {
        reserve_buffer<T, Backend>(be_, st.dy_grouped, p * d);
        const matrix_view<T, space> dy(st.dy_grouped.view().data(), p, d);
        gather_gated_pairs(be_, dout, d_view, gates, routes_of(st), lambda, dy);
        std::vector<expert_parameters_type*> all;
        for (auto& e : experts_) all.push_back(&e);
        Expert::template backward<T, Backend>(be_, all, st.offsets, matrix_view<const T, space>(st.x_grouped.view().data(), p, d), cache_view(st),
                                              matrix_view<const T, space>(dy));
      }
    }
    router_.backward(be_, st.route, matrix_view<const T, space>(dgates), st.router_scratch);
  }

  /// Every parameter (router first, then experts in order).
  std::vector<parameter_type*> parameters() {
    std::vector<parameter_type*> p = router_.params();
    for (auto& e : experts_)
      for (auto& q : e) p.push_back(&q);
    return p;
  }
  std::vector<const parameter_type*> parameters() const {
    std::vector<const parameter_type*> p = router_.params();
    for (const auto& e : experts_)
      for (const auto& q : e) p.push_back(&q);
    return p;
  }

  void zero_grad() {
    for (auto* p : parameters()) p->zero_grad(be_);
  }

  /// One AdamW update of every trainable parameter (frozen rows keep their exact bytes).
  void step(adamw& opt) {
    opt.next_step();
    const auto c = opt.coefficients();
    for (auto* p : parameters()) p->adamw_update(be_, c);
  }

  /// zero_grad, forward_train, loss(out, dout) -> loss value (fills dL/dout), backward, step.
  double train_step(matrix_view<const T, space> x, matrix_view<const T, space> e, const loss_function& loss, adamw& opt, index_type forced = -1) {
    zero_grad();
    forward_state st;
    auto out = make_buffer<T>(be_, x.rows() * cfg_.d_model), dout = make_buffer<T>(be_, x.rows() * cfg_.d_model);
    const matrix_view<T, space> o(out.view().data(), x.rows(), cfg_.d_model), g(dout.view().data(), x.rows(), cfg_.d_model);
    forward_train(x, e, o, st, forced);
    if (g.rows() > 0) fill(be_, T(0), g);
    const double value = loss(matrix_view<const T, space>(o), g);
    backward(st, matrix_view<const T, space>(g));
    step(opt);
    return value;
  }

  /// Routing replay (routers with a `replay`, e.g. kv_anchor_router): accumulates the gradient of
  /// weight * the router's cross-entropy on instance embeddings e (rows) against the experts they
  /// were edited into (labels); returns that mean CE. Call between backward() and step().
  double routing_replay(matrix_view<const T, space> e, const std::vector<index_type>& labels, double weight = 1.0)
    requires requires(router_state& s, const Backend& be) { s.replay(be, e, labels, weight); }
  {
    beacon::require_extent("adaptor::routing_replay", "e", "cols (d_model)", e.cols(), cfg_.d_model);
    return router_.replay(be_, e, labels, weight);
  }

  /// Top-1 expert of each routing row (instances, or tokens for token-level routers); -1 = none.
  [[nodiscard]] std::vector<index_type> route_top1(matrix_view<const T, space> rows) const {
    typename Router::template cache<T, Backend> c;
    router_.route(be_, rows, c, {});
    const auto ids = download(be_, matrix_view<const index_type, space>(c.route.ids()));
    std::vector<index_type> top(static_cast<std::size_t>(rows.rows()));
    for (size_type b = 0; b < rows.rows(); ++b) top[static_cast<std::size_t>(b)] = ids[static_cast<std::size_t>(b * c.route.k)];
    return top;
  }

  /// Routing counts: counts[i][j] = rows of batches[i] whose top-1 expert is j; column experts()
  /// counts the rows routed to no expert (null route).
  [[nodiscard]] std::vector<std::vector<size_type>> routing_counts(const std::vector<matrix_view<const T, space>>& batches) const {
    const size_type n = experts();
    std::vector<std::vector<size_type>> counts(batches.size(), std::vector<size_type>(static_cast<std::size_t>(n + 1), 0));
    for (std::size_t i = 0; i < batches.size(); ++i) {
      if (batches[i].rows() == 0) continue;
      for (index_type id : route_top1(batches[i])) ++counts[i][static_cast<std::size_t>(id >= 0 && id < n ? id : n)];
    }
    return counts;
  }

  /// The routing matrix of the LEMoE paper's Figure 2 from routing counts: C(i, j) = share of step
  /// i's edits whose top-1 expert is j, the last column the share routed to no expert; rows of
  /// empty batches are zero. Its diagonal is the per-step routing consistency.
  [[nodiscard]] static std::vector<std::vector<double>> routing_matrix_of(const std::vector<std::vector<size_type>>& counts) {
    std::vector<std::vector<double>> c(counts.size());
    for (std::size_t i = 0; i < counts.size(); ++i) {
      size_type rows = 0;  // every row is counted once (the last column holds the null route)
      for (const size_type k : counts[i]) rows += k;
      for (const size_type k : counts[i]) c[i].push_back(rows > 0 ? static_cast<double>(k) / static_cast<double>(rows) : 0.0);
    }
    return c;
  }
  [[nodiscard]] std::vector<std::vector<double>> routing_matrix(const std::vector<matrix_view<const T, space>>& batches) const {
    return routing_matrix_of(routing_counts(batches));
  }

  /// Routing consistency (spec §4.4) from routing counts: the share of all edits whose top-1 expert
  /// is their own step's (batch i's rows routed to expert i).
  [[nodiscard]] static double routing_consistency_of(const std::vector<std::vector<size_type>>& counts) {
    size_type hits = 0, total = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      if (i + 1 < counts[i].size()) hits += counts[i][i];
      for (const size_type k : counts[i]) total += k;
    }
    return total > 0 ? static_cast<double>(hits) / static_cast<double>(total) : 0.0;
  }
  [[nodiscard]] double routing_consistency(const std::vector<matrix_view<const T, space>>& batches) const {
    return routing_consistency_of(routing_counts(batches));
  }

  /// (token, choice) pairs routed to each expert in a forward pass (load statistics).
  static std::vector<index_type> expert_load(const forward_state& st) {
    std::vector<index_type> counts;
    for (std::size_t i = 0; i + 1 < st.offsets.size(); ++i) counts.push_back(st.offsets[i + 1] - st.offsets[i]);
    return counts;
  }

 private:
  /// A scratch arena of `bytes` over the state's own workspace buffer (grown when needed), so a
  /// forward pass never touches the backend's shared arena: concurrent const forwards with one
  /// forward_state each do not share scratch.
  workspace_arena<space> workspace_in(forward_state& st, std::size_t bytes) const {
    reserve_buffer<double, Backend>(be_, st.workspace, static_cast<size_type>((bytes + sizeof(double) - 1) / sizeof(double)));
    return workspace_arena<space>(st.workspace.view().data(), bytes);
  }

  void run_forward(matrix_view<const T, space> x, std::span<const index_type> sequence_offsets, matrix_view<const T, space> e,
                   matrix_view<T, space> out, forward_state& st, const route_request& req) const {
    const char* fn = "adaptor::forward";
    check_forward(fn, x, out);
    if (req.forced >= experts()) beacon::fail(fn, "forced", beacon::concat("an expert id < ", experts(), " or -1"), req.forced);
    if constexpr (Router::instance_level) {
      beacon::require_extent(fn, "e", "cols (d_model)", e.cols(), cfg_.d_model);
      lay_out_sequences(fn, "e", x.rows(), e.rows(), sequence_offsets, st);
      router_.route(be_, e, st.route, req);
    } else {
      st.tokens = x.rows();  // every token routes itself (the ragged overloads need instance-level routing)
      st.tokens_per_route = 1;
      st.ragged = false;
      router_.route(be_, x, st.route, req);
    }
    st.kept_route = false;
    dispatch_and_combine(x, st.route.route, out, st);
  }

  void run_forward_kept(matrix_view<const T, space> x, std::span<const index_type> sequence_offsets, const route_type& kept,
                        matrix_view<T, space> out, forward_state& st) const {
    const char* fn = "adaptor::forward";
    check_forward(fn, x, out);
    if (kept.experts != experts())
      beacon::fail(fn, "route", beacon::concat("a route over the adaptor's ", experts(), " experts (route again after insert_expert)"),
                   beacon::concat("a route over ", kept.experts));
    lay_out_sequences(fn, "route", x.rows(), kept.rows, sequence_offsets, st);
    st.kept_route = true;
    dispatch_and_combine(x, kept, out, st);
  }

  void check_forward(const char* fn, matrix_view<const T, space> x, matrix_view<T, space> out) const {
    if (experts() == 0) beacon::fail(fn, "experts", ">= 1 (call insert_expert first)", 0);
    beacon::require_extent(fn, "x", "cols (d_model)", x.cols(), cfg_.d_model);
    beacon::require_same_shape(fn, "out", x, out);
  }

  /// How x's token rows map to `rows` routing rows: uniform (rows divides tokens) without offsets,
  /// else ragged by the validated offsets, uploaded to the state's backend buffers.
  void lay_out_sequences(const char* fn, const char* routing_argument, size_type tokens, size_type rows,
                         std::span<const index_type> offsets, forward_state& st) const {
    st.tokens = tokens;
    st.ragged = !offsets.empty();
    if (!st.ragged) {
      if (rows < 1 || tokens % rows != 0)
        beacon::fail<shape_error>(fn, routing_argument, beacon::concat("a row count dividing x.rows (", tokens, ")"), rows);
      st.tokens_per_route = tokens / rows;
      return;
    }
    const auto n = static_cast<size_type>(offsets.size());
    if (n != rows + 1)
      beacon::fail<shape_error>(fn, "sequence_offsets", beacon::concat(rows + 1, " entries (", routing_argument, " rows + 1)"), n);
    if (offsets.front() != 0) beacon::fail(fn, "sequence_offsets[0]", "0", offsets.front());
    if (offsets.back() != tokens)
      beacon::fail<shape_error>(fn, beacon::concat("sequence_offsets[", n - 1, "]").c_str(), beacon::concat("x.rows (", tokens, ")"),
                                offsets.back());
    for (size_type b = 0; b < rows; ++b)
      if (offsets[static_cast<std::size_t>(b + 1)] < offsets[static_cast<std::size_t>(b)])
        beacon::fail(fn, beacon::concat("sequence_offsets[", b + 1, "]").c_str(),
                     beacon::concat(">= sequence_offsets[", b, "] (", offsets[static_cast<std::size_t>(b)], ")"),
                     offsets[static_cast<std::size_t>(b + 1)]);
    st.tokens_per_route = 1;
    auto& layout = st.host_ragged_layout;
    layout.assign(offsets.begin(), offsets.end());
    layout.resize(static_cast<std::size_t>(n + tokens));
    const auto route_of_token = layout.begin() + n;
    for (size_type b = 0; b < rows; ++b)
      std::fill(route_of_token + offsets[static_cast<std::size_t>(b)], route_of_token + offsets[static_cast<std::size_t>(b + 1)],
                static_cast<index_type>(b));
    reserve_buffer<index_type, Backend>(be_, st.ragged_layout, n + tokens);
    upload(be_, layout, vector_view<index_type, space>(st.ragged_layout.view().data(), n + tokens));
  }

  static token_routes<space> routes_of(const forward_state& st) {
    if (!st.ragged) return token_routes<space>(st.tokens_per_route);
    const index_type* layout = st.ragged_layout.view().data();
    return token_routes<space>(layout, layout + st.host_ragged_layout.size() - static_cast<std::size_t>(st.tokens));
  }

  /// Groups x's (token, choice) pairs of routing r by expert, runs every expert over its group and
  /// combines the gated outputs into out.
  void dispatch_and_combine(matrix_view<const T, space> x, const route_type& r, matrix_view<T, space> out, forward_state& st) const {
    const size_type tokens = x.rows(), k = r.k, n = experts(), d = cfg_.d_model;
    reserve_buffer<index_type, Backend>(be_, st.offset_buffer, n + 1);
    reserve_buffer<index_type, Backend>(be_, st.pair_token, tokens * k);
    reserve_buffer<index_type, Backend>(be_, st.pair_choice, tokens * k);
    reserve_buffer<index_type, Backend>(be_, st.position, tokens * k);
    st.offsets.assign(static_cast<std::size_t>(n + 1), 0);
    st.routed = 0;
    if (tokens == 0) return;
    const auto dv = dispatch(st, k);
    auto workspace = workspace_in(st, group_pairs_workspace_bytes(tokens * k, n));
    group_pairs_by_expert(be_, r.ids(), tokens, routes_of(st), n, dv, workspace);
    st.offsets = download(be_, vector_view<const index_type, space>(dv.offsets));
    const size_type p = st.offsets.back();
    st.routed = p;
    const size_type width = Expert::width({cfg_.d_model, cfg_.expert_hidden});
    reserve_buffer<T, Backend>(be_, st.x_grouped, p * d);
    reserve_buffer<T, Backend>(be_, st.y_grouped, p * d);
    reserve_buffer<T, Backend>(be_, st.expert_cache, Expert::cached * p * width);
    const matrix_view<T, space> xg(st.x_grouped.view().data(), p, d), yg(st.y_grouped.view().data(), p, d);
    if (p > 0) {
      gather_pairs(be_, x, dv, xg);
      std::vector<const expert_parameters_type*> all;
      for (const auto& ex : experts_) all.push_back(&ex);
      Expert::template forward<T, Backend>(be_, all, st.offsets, matrix_view<const T, space>(xg), cache_view(st), yg);
    }
    combine_pairs(be_, matrix_view<const T, space>(yg), dv, r.gates(), routes_of(st), static_cast<T>(cfg_.lambda), out);
  }

  static grouped_dispatch<space> dispatch(forward_state& st) { return dispatch(st, st.route.route.k); }
  static grouped_dispatch<space> dispatch(forward_state& st, size_type k) {
    const size_type n = static_cast<size_type>(st.offsets.size()) - 1;
    return {vector_view<index_type, space>(st.offset_buffer.view().data(), n + 1),
            vector_view<index_type, space>(st.pair_token.view().data(), st.tokens * k),
            vector_view<index_type, space>(st.pair_choice.view().data(), st.tokens * k),
            matrix_view<index_type, space>(st.position.view().data(), st.tokens, k)};
  }

  matrix_view<T, space> cache_view(forward_state& st) const {
    const size_type width = Expert::width({cfg_.d_model, cfg_.expert_hidden});
    return {st.expert_cache.view().data(), Expert::cached * st.routed, width};
  }

  [[nodiscard]] bool router_trains() const {
    for (const auto* p : router_.params())
      if (p->trainable()) return true;
    return false;
  }
  [[nodiscard]] bool experts_train() const {
    for (const auto& e : experts_)
      for (const auto& p : e)
        if (p.trainable()) return true;
    return false;
  }

  Backend be_;
  config cfg_;
  router_state router_;
  std::vector<expert_parameters_type> experts_;
  std::uint64_t noise_calls_ = 0;
};

}  // namespace beacon::moe
