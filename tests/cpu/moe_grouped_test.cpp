// moe/ops: the backend-generic LEMoE building blocks (KV routing, dispatch/combine, grouped
// experts, AdamW) on beacon::cpu against the Eigen router, make_dispatch, the Eigen experts, moe::adamw
// and the whole adaptor (forward, and backward into the same expert, key and projection gradients).
// tests/cuda/moe_test.cu then compares every block on beacon::cuda against these CPU paths.
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>
#include <beacon/moe.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace beacon::moe;
using beacon::host_space;
using beacon::index_type;
using beacon::row_matrix;
using beacon::size_type;

namespace {

template <class T>
row_matrix<T> random_matrix(size_type r, size_type c, unsigned seed, double scale = 1.0) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> n01(0, scale);
  row_matrix<T> m(r, c);
  for (size_type i = 0; i < r; ++i)
    for (size_type j = 0; j < c; ++j) m(i, j) = static_cast<T>(n01(gen));
  return m;
}

template <class T>
void randomize(parameter<T>& p, unsigned seed, double scale = 0.5) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> n01(0, scale);
  for (auto& v : p.value) v = static_cast<T>(n01(gen));
}

/// Largest |a - b| / (atol + rtol |b|) over two equally sized ranges (<= 1: within tolerance).
template <class A, class B>
double ratio(const A& got, const B& want, std::size_t n, double atol, double rtol) {
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    if (std::isnan(g) || std::isnan(w)) return INFINITY;
    worst = std::max(worst, std::abs(g - w) / (atol + rtol * std::abs(w)));
  }
  return worst;
}
template <class T>
double ratio(const row_matrix<T>& got, const row_matrix<T>& want, double atol, double rtol) {
  if (got.rows() != want.rows() || got.cols() != want.cols()) return INFINITY;
  return ratio(got.data(), want.data(), static_cast<std::size_t>(got.size()), atol, rtol);
}
template <class T>
double ratio(const std::vector<T>& got, const std::vector<T>& want, double atol, double rtol) {
  if (got.size() != want.size()) return INFINITY;
  return ratio(got.data(), want.data(), got.size(), atol, rtol);
}

template <class T>
beacon::matrix_view<const T, host_space> cview(const row_matrix<T>& m) {
  return beacon::as_view(m);
}

/// Everything one pass of the building blocks produces, in host buffers.
template <class T>
struct pipeline {
  size_type tokens = 0, k = 0, experts = 0, pairs = 0;
  std::vector<index_type> offsets, pair_token, pair_choice, position;
  row_matrix<T> x_grouped, y_grouped, out;

  grouped_dispatch<host_space> dispatch() {
    return {beacon::host_vector(offsets.data(), experts + 1), beacon::host_vector(pair_token.data(), tokens * k),
            beacon::host_vector(pair_choice.data(), tokens * k), beacon::host_matrix(position.data(), tokens, k)};
  }
  void group(const beacon::cpu& be, const std::vector<index_type>& ids, size_type kk, size_type ee, size_type t, size_type per_route) {
    tokens = t, k = kk, experts = ee;
    offsets.assign(static_cast<std::size_t>(ee + 1), -7);
    pair_token.assign(static_cast<std::size_t>(t * kk), -7);
    pair_choice.assign(static_cast<std::size_t>(t * kk), -7);
    position.assign(static_cast<std::size_t>(t * kk), -7);
    group_pairs_by_expert(be, beacon::host_matrix(ids.data(), t / per_route, kk), t, per_route, ee, dispatch());
    pairs = offsets.back();
  }
};

}  // namespace

TEST_CASE("moe ops: kv_route equals kv_anchor_router::route (dot, scaled, cosine, both gate norms, null route)") {
  const beacon::cpu be{1};
  const size_type d = 10, rank = 4, key_dim = 6, batch = 9;
  for (const auto score : {score_function::dot, score_function::scaled_dot, score_function::cosine})
    for (const auto gate : {gate_norm::softmax_all_experts, gate_norm::renormalize_top_k})
      for (const bool null_route : {false, true})
        for (const size_type experts : {1, 3, 7}) {
          CAPTURE(static_cast<int>(score));
          CAPTURE(static_cast<int>(gate));
          CAPTURE(null_route);
          CAPTURE(experts);
          auto check = [&]<class Router>(Router) {
            kv_router_options o;
            o.score = score;
            o.gate = gate;
            auto s = Router::template make<double>(d, rank, key_dim, o, 3);
            for (size_type i = 0; i < experts; ++i)
              Router::template insert<double>(s, i, random_matrix<double>(4, d, 20 + static_cast<unsigned>(i)), 3);
            const auto e = random_matrix<double>(batch, d, 5);
            typename Router::template cache<double> ref;
            Router::template route<double>(s, e, ref);
            if (null_route) {  // a threshold between the rows' best scores: some rows route, some do not
              std::vector<double> best;
              for (size_type b = 0; b < batch; ++b) best.push_back(ref.route.scores.row(b).maxCoeff());
              std::sort(best.begin(), best.end());
              s.opt.null_route = true;
              s.opt.null_threshold = 0.5 * (best[4] + best[5]);
              Router::template route<double>(s, e, ref);
            }
            const size_type chosen = std::min(Router::k, experts);
            const auto keys = stacked_keys<double>(s);
            row_matrix<double> z(batch, rank), v(batch, key_dim), scores(batch, experts), gates(batch, chosen);
            std::vector<index_type> ids(static_cast<std::size_t>(batch * chosen));
            kv_route(be, kv_route_weights<double, host_space>{value_matrix(s.shared.down), value_matrix(s.shared.up),
                                                              beacon::host_matrix(keys.data(), experts, key_dim)},
                     s.opt, Router::k, cview(e),
                     kv_route_outputs<double, host_space>{beacon::as_view(z), beacon::as_view(v), beacon::as_view(scores), beacon::as_view(gates),
                                                          beacon::host_matrix(ids.data(), batch, chosen)});
            CHECK(ratio(z, ref.z[0], 1e-13, 1e-12) <= 1);
            CHECK(ratio(v, ref.v[0], 1e-13, 1e-12) <= 1);
            CHECK(ratio(scores, ref.route.scores, 1e-13, 1e-12) <= 1);
            CHECK(ids == ref.route.ids);
            CHECK(ratio(std::vector<double>(gates.data(), gates.data() + gates.size()), ref.route.gates, 1e-14, 1e-12) <= 1);
            if (null_route) {
              const auto none = std::count(ids.begin(), ids.end(), -1);
              CHECK(none > 0);
              CHECK(none < static_cast<long>(ids.size()));
            }
          };
          check(kv_anchor_router<top_k<1>>{});
          check(kv_anchor_router<top_k<2>>{});
        }
}

TEST_CASE("moe ops: kv_route float agrees with the router, and rejects bad arguments by name") {
  const beacon::cpu be{1};
  using R = kv_anchor_router<top_k<2>>;
  auto s = R::make<float>(8, 3, 8, {}, 1);
  for (size_type i = 0; i < 5; ++i) R::insert<float>(s, i, random_matrix<float>(3, 8, 40 + static_cast<unsigned>(i)), 1);
  const auto e = random_matrix<float>(6, 8, 6);
  R::cache<float> ref;
  R::route<float>(s, e, ref);
  const auto keys = stacked_keys<float>(s);
  row_matrix<float> z(6, 3), v(6, 8), scores(6, 5), gates(6, 2);
  std::vector<index_type> ids(12);
  const kv_route_weights<float, host_space> w{value_matrix(s.shared.down), value_matrix(s.shared.up), beacon::host_matrix(keys.data(), 5, 8)};
  const kv_route_outputs<float, host_space> out{beacon::as_view(z), beacon::as_view(v), beacon::as_view(scores), beacon::as_view(gates),
                                                beacon::host_matrix(ids.data(), 6, 2)};
  kv_route(be, w, s.opt, 2, cview(e), out);
  CHECK(ids == ref.route.ids);
  CHECK(ratio(scores, ref.route.scores, 1e-6, 1e-5) <= 1);
  CHECK(ratio(std::vector<float>(gates.data(), gates.data() + 12), ref.route.gates, 1e-7, 1e-5) <= 1);

  kv_router_options per_expert;
  per_expert.projection = projection_mode::per_expert_frozen;
  CHECK_THROWS_WITH_AS(kv_route(be, w, per_expert, 2, cview(e), out),
                       "beacon::moe::kv_route: argument 'options.projection' expected shared_retrained (per-expert projections are the Eigen router's), got "
                       "per_expert_frozen", beacon::value_error);
  const auto wrong = random_matrix<float>(6, 7, 1);
  CHECK_THROWS_WITH_AS(kv_route(be, w, s.opt, 2, cview(wrong), out), "beacon::moe::kv_route: argument 'weights.w_down' expected cols (e.cols) = 7, got 8",
                       beacon::shape_error);
  row_matrix<float> gates3(6, 3);
  std::vector<index_type> ids3(18);
  const kv_route_outputs<float, host_space> out3{beacon::as_view(z), beacon::as_view(v), beacon::as_view(scores), beacon::as_view(gates3),
                                                 beacon::host_matrix(ids3.data(), 6, 3)};
  CHECK_THROWS_WITH_AS(kv_route(be, w, s.opt, 2, cview(e), out3),
                       "beacon::moe::kv_route: argument 'outputs.gates' expected cols (min(k, experts)) = 2, got 3", beacon::shape_error);
}

TEST_CASE("moe ops: group_pairs_by_expert equals make_dispatch (null routes, empty experts, k = 1..3, instance routing)") {
  const beacon::cpu be{1};
  std::mt19937 gen(3);
  for (const size_type experts : {1, 5, 64})
    for (const size_type k : {1, 2, 3})
      for (const size_type per_route : {1, 3}) {
        CAPTURE(experts);
        CAPTURE(k);
        CAPTURE(per_route);
        const size_type routes = 11, tokens = routes * per_route;
        // Ids from a few experts only (most experts get no token), about a fifth null.
        std::uniform_int_distribution<index_type> pick(-1, static_cast<index_type>(std::min<size_type>(experts, 4) - 1));
        std::vector<index_type> ids(static_cast<std::size_t>(routes * k));
        for (auto& id : ids) id = pick(gen) < 0 && pick(gen) < 1 ? -1 : static_cast<index_type>((pick(gen) + 1) * (experts / 4 + 1) % experts);
        const auto ref = make_dispatch(be, ids, k, experts, tokens, per_route);
        pipeline<double> p;
        p.group(be, ids, k, experts, tokens, per_route);
        CHECK(p.offsets == ref.offsets);
        CHECK(std::vector<index_type>(p.pair_token.begin(), p.pair_token.begin() + p.pairs) == ref.token);
        CHECK(std::vector<index_type>(p.pair_choice.begin(), p.pair_choice.begin() + p.pairs) == ref.choice);
        for (size_type q = p.pairs; q < tokens * k; ++q) CHECK(p.pair_token[static_cast<std::size_t>(q)] == -1);
        // position is the inverse: (t, j) -> q, and -1 exactly for the empty choices.
        for (size_type t = 0; t < tokens; ++t)
          for (size_type j = 0; j < k; ++j) {
            const index_type q = p.position[static_cast<std::size_t>(t * k + j)];
            if (ids[static_cast<std::size_t>((t / per_route) * k + j)] < 0) {
              CHECK(q == -1);
            } else {
              REQUIRE(q >= 0);
              CHECK(p.pair_token[static_cast<std::size_t>(q)] == t);
              CHECK(p.pair_choice[static_cast<std::size_t>(q)] == j);
            }
          }
      }
  // The CPU backend checks ids; the message names the argument.
  pipeline<double> p;
  CHECK_THROWS_WITH_AS(p.group(be, {0, 3}, 1, 3, 2, 1), "beacon::dispatch_keys: argument 'ids' expected expert ids < 3, got 3 at (1, 0)",
                       beacon::value_error);
  p.group(be, {0, 1, 2}, 1, 3, 3, 1);
  const std::vector<index_type> two = {0, 1};
  CHECK_THROWS_WITH_AS(group_pairs_by_expert(be, beacon::host_matrix(two.data(), 2, 1), 3, 1, 3, p.dispatch()),
                       "beacon::dispatch_keys: argument 'ids' expected rows = tokens / tokens_per_route (3 / 1), got 2", beacon::shape_error);
}

namespace {

/// Experts' forward and backward through the grouped blocks vs the Eigen expert, per group.
template <class Expert, class T>
void check_grouped_expert(activation act, const std::vector<index_type>& offsets) {
  const beacon::cpu be{1};
  const size_type d = 6, h = 9, experts = static_cast<size_type>(offsets.size()) - 1, rows = offsets.back();
  std::vector<typename Expert::template state<T>> ref, ours;
  for (size_type e = 0; e < experts; ++e) {
    std::string prefix = "expert";  // (built step by step: GCC 12 warns falsely on "e" + to_string(e))
    prefix += std::to_string(e);
    prefix += '.';
    auto s = Expert::template make<T>({d, h}, prefix);
    unsigned seed = 100 + 10 * static_cast<unsigned>(e);
    for (auto* p : s.params()) randomize(*p, seed++);
    ref.push_back(s);
    ours.push_back(s);
  }
  ours[1 % experts].params()[0]->frozen = true;  // a frozen tensor is skipped: its gradient stays zero
  const auto x = random_matrix<T>(rows, d, 7), dy = random_matrix<T>(rows, d, 8);
  row_matrix<T> y_ref(rows, d), dx_ref(rows, d);
  for (size_type e = 0; e < experts; ++e) {
    const index_type lo = offsets[static_cast<std::size_t>(e)], n = offsets[static_cast<std::size_t>(e + 1)] - lo;
    if (n == 0) continue;
    typename Expert::template cache<T> c;
    row_matrix<T> ye(n, d), dxe;
    Expert::template forward<T>(ref[static_cast<std::size_t>(e)], x.middleRows(lo, n), ye, c);
    Expert::template backward<T>(ref[static_cast<std::size_t>(e)], x.middleRows(lo, n), c, dy.middleRows(lo, n), &dxe);
    y_ref.middleRows(lo, n) = ye;
    dx_ref.middleRows(lo, n) = dxe;
  }
  row_matrix<T> y(rows, d), dx(rows, d), c1(rows, h), c2(rows, h), c3(rows, h);
  if constexpr (std::is_same_v<Expert, swiglu_expert>) {
    std::vector<swiglu_weights<T, host_space>> w;
    std::vector<swiglu_gradients<T, host_space>> g;
    for (auto& s : ours) {
      w.push_back(swiglu_weights_of(s));
      g.push_back(swiglu_gradients_of(s));
    }
    const swiglu_cache<T, host_space> cache{beacon::as_view(c1), beacon::as_view(c2), beacon::as_view(c3)};
    grouped_swiglu_forward(be, w, offsets, cview(x), cache, beacon::as_view(y));
    grouped_swiglu_backward(be, w, g, offsets, cview(x), cache, cview(dy), beacon::as_view(dx));
  } else {
    std::vector<mlp_weights<T, host_space>> w;
    std::vector<mlp_gradients<T, host_space>> g;
    for (auto& s : ours) {
      w.push_back(mlp_weights_of(s));
      g.push_back(mlp_gradients_of(s));
    }
    const mlp_cache<T, host_space> cache{beacon::as_view(c1), beacon::as_view(c2)};
    grouped_mlp_forward(be, act, w, offsets, cview(x), cache, beacon::as_view(y));
    grouped_mlp_backward(be, act, w, g, offsets, cview(x), cache, cview(dy), beacon::as_view(dx));
  }
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  CHECK(ratio(y, y_ref, tol, tol) <= 1);
  CHECK(ratio(dx, dx_ref, tol, tol) <= 1);
  int compared = 0;
  for (size_type e = 0; e < experts; ++e) {
    const auto got = ours[static_cast<std::size_t>(e)].params(), want = ref[static_cast<std::size_t>(e)].params();
    for (std::size_t i = 0; i < got.size(); ++i) {
      CAPTURE(got[i]->name);
      if (got[i]->frozen) {
        CHECK(std::all_of(got[i]->grad.begin(), got[i]->grad.end(), [](T v) { return v == T(0); }));
        continue;
      }
      CHECK(ratio(got[i]->grad, want[i]->grad, tol, tol) <= 1);
      ++compared;
    }
  }
  CHECK(compared > 0);
}

}  // namespace

TEST_CASE("moe ops: grouped MLP (ReLU, SiLU, GELU) and SwiGLU forward/backward equal the Eigen experts") {
  const std::vector<std::vector<index_type>> layouts = {{0, 5}, {0, 3, 3, 8, 9}, {0, 0, 4, 4, 11, 11}};
  for (const auto& offsets : layouts) {
    CAPTURE(offsets.size());
    check_grouped_expert<mlp_expert<activation::relu>, double>(activation::relu, offsets);
    check_grouped_expert<mlp_expert<activation::silu>, double>(activation::silu, offsets);
    check_grouped_expert<mlp_expert<activation::gelu>, double>(activation::gelu, offsets);
    check_grouped_expert<swiglu_expert, double>(activation::silu, offsets);
    check_grouped_expert<mlp_expert<activation::gelu>, float>(activation::gelu, offsets);
    check_grouped_expert<swiglu_expert, float>(activation::silu, offsets);
  }
}

TEST_CASE("moe ops: grouped experts reject inconsistent offsets and weights by name") {
  const beacon::cpu be{1};
  auto s = swiglu_expert::make<double>({4, 5}, "e.");
  const std::vector<swiglu_weights<double, host_space>> w{swiglu_weights_of(s)};
  row_matrix<double> x(3, 4), y(3, 4), a(3, 5), b(3, 5), u(3, 5);
  const swiglu_cache<double, host_space> cache{beacon::as_view(a), beacon::as_view(b), beacon::as_view(u)};
  CHECK_THROWS_WITH_AS(grouped_swiglu_forward(be, w, {0, 2}, cview(x), cache, beacon::as_view(y)),
                       "beacon::moe::grouped_swiglu_forward: argument 'offsets[experts]' expected the grouped row count (3), got 2",
                       beacon::shape_error);
  CHECK_THROWS_WITH_AS(grouped_swiglu_forward(be, w, {0, 1, 3}, cview(x), cache, beacon::as_view(y)),
                       "beacon::moe::grouped_swiglu_forward: argument 'offsets' expected size (experts + 1) = 2, got 3", beacon::shape_error);
  auto wide = swiglu_expert::make<double>({4, 6}, "e.");
  const std::vector<swiglu_weights<double, host_space>> w_wide{swiglu_weights_of(wide)};
  CHECK_THROWS_WITH_AS(grouped_swiglu_forward(be, w_wide, {0, 3}, cview(x), cache, beacon::as_view(y)),
                       "beacon::moe::grouped_swiglu_forward: argument 'experts.gate' expected 5x4 (expert 0), got 6x4", beacon::shape_error);
}

TEST_CASE("moe ops: adamw_update is moe::adamw::update bit for bit, and never touches a frozen parameter") {
  const beacon::cpu be{2};
  for (const bool as_float : {false, true}) {
    CAPTURE(as_float);
    auto run = [&]<class T>(T) {
      parameter<T> ours("p", {37, 5}), ref("p", {37, 5});
      randomize(ours, 1);
      ref = ours;
      adamw opt_ours, opt_ref;
      opt_ours.lr = opt_ref.lr = 1e-2;
      for (int step = 0; step < 4; ++step) {
        randomize(ours, 10 + static_cast<unsigned>(step));  // fresh values are fine: both copies get them
        ours.grad = std::vector<T>(ours.value.begin(), ours.value.end());
        for (auto& g : ours.grad) g = static_cast<T>(std::sin(static_cast<double>(g) * 3 + step));
        ref.value = ours.value;
        ref.grad = ours.grad;
        opt_ours.next_step();
        opt_ref.next_step();
        adamw_update(be, opt_ours, adamw_views_of(ours));
        opt_ref.update(ref);
        CHECK(std::memcmp(ours.value.data(), ref.value.data(), sizeof(T) * ours.value.size()) == 0);
        CHECK(std::memcmp(ours.m.data(), ref.m.data(), sizeof(T) * ours.m.size()) == 0);
        CHECK(std::memcmp(ours.v.data(), ref.v.data(), sizeof(T) * ours.v.size()) == 0);
      }
      const auto before = ours;
      ours.frozen = true;
      adamw_update(be, opt_ours, adamw_views_of(ours));
      CHECK(std::memcmp(ours.value.data(), before.value.data(), sizeof(T) * ours.value.size()) == 0);
      CHECK(std::memcmp(ours.m.data(), before.m.data(), sizeof(T) * ours.m.size()) == 0);
      adamw fresh;
      ours.frozen = false;
      CHECK_THROWS_WITH_AS(adamw_update(be, fresh, adamw_views_of(ours)),
                           "beacon::moe::adamw_update: argument 'opt.step' expected >= 1 (call next_step() first), got 0", beacon::value_error);
    };
    if (as_float) run(float{});
    else run(double{});
  }
}

namespace {

/// The building blocks run as an adaptor would (route, dispatch, gather, experts, combine; then
/// gate-weighted gather, expert backward, gate gradient, router backward) on a copy of `a`, and
/// compared with a.forward / a.backward.
template <class Router, class Expert>
void check_against_adaptor(bool freeze_earlier, size_type experts, double lambda) {
  using T = double;
  using A = adaptor<T, Router, Expert>;
  const beacon::cpu be{1};
  const size_type d = 8, h = 10, batch = 7, length = 3, tokens = batch * length;
  A a(be, {.d_model = d, .expert_hidden = h, .router_rank = 4, .lambda = lambda, .seed = 2, .freeze_earlier_experts = freeze_earlier});
  const auto e = random_matrix<T>(batch, d, 11), x = random_matrix<T>(tokens, d, 12), dout = random_matrix<T>(tokens, d, 13);
  for (size_type i = 0; i < experts; ++i)
    a.insert_expert(expert_init<T>::random_normal(static_cast<std::uint64_t>(i), 0.5), cview(random_matrix<T>(3, d, 30 + static_cast<unsigned>(i))));
  unsigned seed = 50;
  for (auto* p : a.parameters())
    if (p->name.rfind("expert", 0) == 0) randomize(*p, seed++);  // non-zero output layers everywhere
  A b = a;  // the building blocks work on b's parameters

  typename A::forward_state st;
  row_matrix<T> out_ref(tokens, d);
  a.zero_grad();
  a.forward(cview(x), cview(e), beacon::as_view(out_ref), &st);
  a.backward(st, cview(dout));

  // ---- forward through the building blocks ----
  b.zero_grad();
  auto& rs = b.router();
  const size_type k = std::min(Router::k, experts), rank = rs.rank, key_dim = rs.key_dim;
  const auto keys = stacked_keys<T>(rs);
  row_matrix<T> z(batch, rank), v(batch, key_dim), scores(batch, experts), gates(batch, k);
  std::vector<index_type> ids(static_cast<std::size_t>(batch * k));
  kv_route(be, kv_route_weights<T, host_space>{value_matrix(rs.shared.down), value_matrix(rs.shared.up), beacon::host_matrix(keys.data(), experts, key_dim)},
           rs.opt, Router::k, cview(e),
           kv_route_outputs<T, host_space>{beacon::as_view(z), beacon::as_view(v), beacon::as_view(scores), beacon::as_view(gates),
                                           beacon::host_matrix(ids.data(), batch, k)});
  CHECK(ids == st.route.route.ids);
  pipeline<T> p;
  p.group(be, ids, k, experts, tokens, length);
  CHECK(p.offsets == st.plan.offsets);
  row_matrix<T> xg(p.pairs, d), yg(p.pairs, d), c1(p.pairs, h), c2(p.pairs, h), c3(p.pairs, h), out(tokens, d);
  gather_pairs(be, cview(x), p.dispatch(), beacon::as_view(xg));
  std::vector<swiglu_weights<T, host_space>> sw;
  std::vector<mlp_weights<T, host_space>> mw;
  for (size_type i = 0; i < experts; ++i) {
    if constexpr (std::is_same_v<Expert, swiglu_expert>) sw.push_back(swiglu_weights_of(b.expert(i)));
    else mw.push_back(mlp_weights_of(b.expert(i)));
  }
  if constexpr (std::is_same_v<Expert, swiglu_expert>)
    grouped_swiglu_forward(be, sw, p.offsets, cview(xg), {beacon::as_view(c1), beacon::as_view(c2), beacon::as_view(c3)}, beacon::as_view(yg));
  else
    grouped_mlp_forward(be, activation::silu, mw, p.offsets, cview(xg), {beacon::as_view(c1), beacon::as_view(c2)}, beacon::as_view(yg));
  combine_pairs(be, cview(yg), p.dispatch(), cview(gates), length, lambda, beacon::as_view(out));
  CHECK(ratio(out, out_ref, 1e-13, 1e-12) <= 1);

  // ---- backward ----
  row_matrix<T> dyg(p.pairs, d), dgates(batch, k);
  gather_gated_pairs(be, cview(dout), p.dispatch(), cview(gates), length, lambda, beacon::as_view(dyg));
  auto expert_state = [&](size_type i) -> typename A::expert_state& { return const_cast<typename A::expert_state&>(b.expert(i)); };
  if constexpr (std::is_same_v<Expert, swiglu_expert>) {
    std::vector<swiglu_gradients<T, host_space>> g;
    for (size_type i = 0; i < experts; ++i) g.push_back(swiglu_gradients_of(expert_state(i)));
    grouped_swiglu_backward(be, sw, g, p.offsets, cview(xg), {beacon::as_view(c1), beacon::as_view(c2), beacon::as_view(c3)}, cview(dyg),
                            beacon::matrix_view<T, host_space>());
  } else {
    std::vector<mlp_gradients<T, host_space>> g;
    for (size_type i = 0; i < experts; ++i) g.push_back(mlp_gradients_of(expert_state(i)));
    grouped_mlp_backward(be, activation::silu, mw, g, p.offsets, cview(xg), {beacon::as_view(c1), beacon::as_view(c2)}, cview(dyg),
                         beacon::matrix_view<T, host_space>());
  }
  pair_gate_gradients(be, cview(dout), cview(yg), p.dispatch(), length, lambda, beacon::as_view(dgates));
  typename Router::template cache<T> rc;
  Router::template route<T>(rs, e, rc);
  Router::template backward<T>(rs, rc, std::vector<T>(dgates.data(), dgates.data() + dgates.size()));

  const auto got = b.parameters(), want = a.parameters();
  REQUIRE(got.size() == want.size());
  int trained = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(got[i]->name);
    CHECK(ratio(got[i]->grad, want[i]->grad, 1e-12, 1e-10) <= 1);
    trained += !got[i]->frozen;
  }
  CHECK(trained > 0);
}

}  // namespace

TEST_CASE("moe ops: the building blocks compute the adaptor's forward and backward (experts, gates, keys, projection)") {
  check_against_adaptor<kv_anchor_router<top_k<1>>, swiglu_expert>(true, 4, 1.0);
  check_against_adaptor<kv_anchor_router<top_k<2>>, swiglu_expert>(false, 5, 0.7);
  check_against_adaptor<kv_anchor_router<top_k<2>>, mlp_expert<activation::silu>>(true, 3, 1.0);
  check_against_adaptor<kv_anchor_router<top_k<1>>, mlp_expert<activation::silu>>(false, 1, 2.0);
}

TEST_CASE("moe ops: row kernels reject bad positions, pairs and shapes with the CPU backend's messages") {
  const beacon::cpu be{1};
  row_matrix<double> y(2, 3), out(4, 3), gates(2, 1);
  std::vector<index_type> position = {0, 1, 2, -1};
  CHECK_THROWS_WITH_AS(beacon::combine_rows(be, cview(y), beacon::host_matrix<const index_type>(position.data(), 4, 1), cview(gates), 2, 1.0,
                                            beacon::as_view(out)),
                       "beacon::combine_rows: argument 'position' expected entries in [-1, 2), got 2 at (2, 0)", beacon::value_error);
  CHECK_THROWS_WITH_AS(beacon::combine_rows(be, cview(y), beacon::host_matrix<const index_type>(position.data(), 4, 1), cview(gates), 3, 1.0,
                                            beacon::as_view(out)),
                       "beacon::combine_rows: argument 'gates' expected rows = tokens / tokens_per_route (4 / 3), got 2", beacon::shape_error);
  std::vector<index_type> token = {0, 5}, choice = {0, 0};
  row_matrix<double> dst(2, 3);
  CHECK_THROWS_WITH_AS(beacon::gather_gated_rows(be, cview(out), beacon::host_vector<const index_type>(token.data(), 2),
                                                 beacon::host_vector<const index_type>(choice.data(), 2), cview(gates), 2, 1.0, beacon::as_view(dst)),
                       "beacon::gather_gated_rows: argument 'pair_token' expected entries in [0, 4), got 5 at position 1", beacon::value_error);
  row_matrix<double> z(2, 3), a(2, 3);
  std::vector<double> bias(4);
  CHECK_THROWS_WITH_AS(beacon::bias_activation(be, activation::relu, beacon::host_vector<const double>(bias.data(), 4), beacon::as_view(z), beacon::as_view(a)),
                       "beacon::bias_activation: argument 'bias' expected size (z.cols) = 3, got 4", beacon::shape_error);
}

TEST_CASE("moe ops: column sums add rows in order and accumulate, activations match moe::activate exactly") {
  const beacon::cpu be{2};
  const auto x = random_matrix<float>(300, 700, 1);  // > 256 columns: several column blocks
  std::vector<float> sums(700, 1.0f);
  beacon::add_column_sums(be, cview(x), beacon::host_vector(sums.data(), 700));
  for (size_type j = 0; j < 700; ++j) {
    float acc = 0;
    for (size_type i = 0; i < 300; ++i) acc += x(i, j);
    CHECK(sums[static_cast<std::size_t>(j)] == 1.0f + acc);
  }
  for (const auto act : {activation::relu, activation::silu, activation::gelu, activation::identity}) {
    row_matrix<double> z = random_matrix<double>(5, 6, 2), a(5, 6), dz(5, 6);
    const row_matrix<double> z0 = z, dy = random_matrix<double>(5, 6, 3);
    std::vector<double> bias = {0.1, -0.2, 0.3, 0.0, 1.0, -1.0};
    beacon::bias_activation(be, act, beacon::host_vector<const double>(bias.data(), 6), beacon::as_view(z), beacon::as_view(a));
    beacon::activation_backward(be, act, cview(z), cview(dy), beacon::as_view(dz));
    for (size_type i = 0; i < 5; ++i)
      for (size_type j = 0; j < 6; ++j) {
        const double pre = z0(i, j) + bias[static_cast<std::size_t>(j)];
        CHECK(z(i, j) == pre);
        CHECK(a(i, j) == activate(act, pre));
        CHECK(dz(i, j) == dy(i, j) * activate_derivative(act, pre));
      }
  }
}
