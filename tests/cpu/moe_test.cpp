// SPDX-License-Identifier: Apache-2.0
// The LEMoE test oracle (tests/oracle): spec lemoe.md TC-1..TC-7, finite-difference gradients of every backward (experts,
// gates, keys, projection), freezing across insertions, dispatch determinism.
#include <doctest/doctest.h>

#include "../support/random_matrix.hpp"

#include <beacon/beacon.hpp>
#include "../oracle/oracle.hpp"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace beacon::oracle;
using beacon::activation;
using beacon::adamw;
using beacon::index_type;
using beacon::row_matrix;
using beacon::size_type;

namespace {
using kv1 = kv_anchor_router<top_k<1>>;

using beacon_test::random_matrix;

/// The TC-1 router: d = 4, rank 2, key dim 2, W_down = [[1,0,0,0],[0,1,-1,0]], W_up = I, keys k1..k3.
template <class Router = kv1>
typename Router::template state<double> tc1_router(size_type keys = 3, gate_norm g = gate_norm::softmax_all_experts) {
  kv_router_options o;
  o.gate = g;
  auto s = Router::template make<double>(4, 2, 2, o, 0);
  s.shared.down.value = {1, 0, 0, 0, 0, 1, -1, 0};
  s.shared.up.value = {1, 0, 0, 1};
  const std::vector<std::vector<double>> k = {{1, 0}, {0, 1}, {-1, 0.5}, {2, 0}};
  for (size_type i = 0; i < keys; ++i) {
    Router::template insert<double>(s, i, row_matrix<double>(0, 4), 0);
    s.keys.back().value = k[static_cast<std::size_t>(i)];
  }
  return s;
}

row_matrix<double> tc1_instance() {
  // Token embeddings w1 = [1,0,2,0], w2 = [3,2,0,0] and a PAD row (mask 0): e = [2,1,1,0].
  const std::vector<double> tokens = {1, 0, 2, 0, 3, 2, 0, 0, 9, 9, 9, 9};
  const std::vector<std::uint8_t> mask = {1, 1, 0};
  row_matrix<double> e(1, 4);
  beacon::masked_mean_pool(beacon::cpu{1}, beacon::host_matrix(tokens.data(), 3, 4), beacon::host_matrix(mask.data(), 1, 3), beacon::as_view(e));
  return e;
}

template <class Expert>
void check_expert_gradients(const char* label) {
  CAPTURE(label);
  const size_type d = 5, h = 7, n = 4;
  auto st = Expert::template make<double>({d, h}, "e.");
  for (auto* p : st.params()) {
    std::mt19937 gen(static_cast<unsigned>(p->size()));
    std::normal_distribution<double> n01(0, 0.5);
    for (auto& v : p->value) v = n01(gen);
  }
  const row_matrix<double> x = random_matrix(n, d, 1), dy = random_matrix(n, d, 2);
  typename Expert::template cache<double> c;
  row_matrix<double> y(n, d);
  Expert::template forward<double>(st, x, y, c);
  row_matrix<double> dx;
  Expert::template backward<double>(st, x, c, dy, &dx);
  auto objective = [&](const row_matrix<double>& xx) {
    typename Expert::template cache<double> cc;
    row_matrix<double> yy(n, d);
    Expert::template forward<double>(st, xx, yy, cc);
    return (yy.array() * dy.array()).sum();
  };
  double worst = 0;
  for (auto* p : st.params())
    for (std::size_t i = 0; i < p->value.size(); ++i) {
      const double keep = p->value[i];
      p->value[i] = keep + 1e-6;
      const double up = objective(x);
      p->value[i] = keep - 1e-6;
      const double down = objective(x);
      p->value[i] = keep;
      worst = std::max(worst, std::abs((up - down) / 2e-6 - p->grad[i]));
    }
  for (size_type i = 0; i < n; ++i)
    for (size_type j = 0; j < d; ++j) {
      row_matrix<double> xp = x, xm = x;
      xp(i, j) += 1e-6;
      xm(i, j) -= 1e-6;
      worst = std::max(worst, std::abs((objective(xp) - objective(xm)) / 2e-6 - dx(i, j)));
    }
  CHECK(worst < 1e-6);
}
}  // namespace

TEST_CASE("TC-1: instance embedding, projection, KV scores and gate, padding ignored") {
  const row_matrix<double> e = tc1_instance();
  CHECK(e(0, 0) == 2.0);
  CHECK(e(0, 1) == 1.0);
  CHECK(e(0, 2) == 1.0);
  CHECK(e(0, 3) == 0.0);
  const auto s = tc1_router();
  kv1::cache<double> c;
  kv1::route<double>(s, e, c);
  CHECK(c.v[0](0, 0) == doctest::Approx(1.761594).epsilon(1e-6));
  CHECK(c.v[0](0, 1) == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(c.route.scores(0, 2) == doctest::Approx(-1.761594).epsilon(1e-6));
  CHECK(c.route.probs(0, 0) == doctest::Approx(0.832448).epsilon(1e-6));
  CHECK(c.route.probs(0, 1) == doctest::Approx(0.142990).epsilon(1e-5));
  CHECK(c.route.probs(0, 2) == doctest::Approx(0.024562).epsilon(1e-4));
  CHECK(c.route.id(0, 0) == 0);
  CHECK(c.route.gate(0, 0) == doctest::Approx(0.832448).epsilon(1e-6));
}

TEST_CASE("TC-2: the gate depends on how many experts exist, renormalised top-2 equals the two-expert softmax") {
  const row_matrix<double> e = tc1_instance();
  kv1::cache<double> c;
  kv1::route<double>(tc1_router(2), e, c);
  CHECK(c.route.gate(0, 0) == doctest::Approx(0.853409).epsilon(1e-6));
  kv_anchor_router<top_k<2>>::cache<double> c2;
  kv_anchor_router<top_k<2>>::route<double>(tc1_router<kv_anchor_router<top_k<2>>>(3, gate_norm::renormalize_top_k), e, c2);
  CHECK(c2.route.gate(0, 0) == doctest::Approx(0.853409).epsilon(1e-6));
  CHECK(c2.route.gate(0, 1) == doctest::Approx(0.146591).epsilon(1e-5));
  kv1::cache<double> c1;
  kv1::route<double>(tc1_router(3, gate_norm::renormalize_top_k), e, c1);
  CHECK(c1.route.gate(0, 0) == 1.0);
}

TEST_CASE("TC-3: expert output and combine (ReLU and SiLU MLP experts)") {
  auto relu = mlp_expert<activation::relu>::make<double>({2, 2}, "");
  relu.w1.value = {1, 1, 0, -1};
  relu.w2.value = {2, 0, 1, 1};
  row_matrix<double> x(1, 2), y(1, 2);
  x << 1, -2;
  mlp_expert<activation::relu>::cache<double> c;
  mlp_expert<activation::relu>::forward<double>(relu, x, y, c);
  CHECK(y(0, 0) == 0.0);
  CHECK(y(0, 1) == 2.0);
  const double gate = 0.832448;
  CHECK(0.5 + gate * y(0, 1) == doctest::Approx(2.164896).epsilon(1e-6));
  auto silu = mlp_expert<activation::silu>::make<double>({2, 2}, "");
  silu.w1.value = relu.w1.value;
  silu.w2.value = relu.w2.value;
  mlp_expert<activation::silu>::cache<double> cs;
  mlp_expert<activation::silu>::forward<double>(silu, x, y, cs);
  CHECK(y(0, 0) == doctest::Approx(-0.537883).epsilon(1e-6));
  CHECK(y(0, 1) == doctest::Approx(1.492653).epsilon(1e-6));
}

TEST_CASE("TC-4: router gradient of the un-renormalised top-1 gate, chained to the keys") {
  const row_matrix<double> e = tc1_instance();
  auto s = tc1_router();
  kv1::cache<double> c;
  kv1::route<double>(s, e, c);
  const row_matrix<double> ds = detail::score_gradient(c.route, std::vector<double>{1.0}, gate_norm::softmax_all_experts);
  CHECK(ds(0, 0) == doctest::Approx(0.139478).epsilon(1e-5));
  CHECK(ds(0, 1) == doctest::Approx(-0.119032).epsilon(1e-5));
  CHECK(ds(0, 2) == doctest::Approx(-0.020446).epsilon(1e-4));
  for (auto& k : s.keys) k.frozen = false;  // inspect every key's gradient
  kv1::backward<double>(s, c, std::vector<double>{1.0});
  CHECK(s.keys[1].grad[0] == doctest::Approx(-0.119032 * 1.761594).epsilon(1e-5));
  CHECK(s.keys[1].grad[1] == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(activate_derivative(activation::silu, 2.0) == doctest::Approx(1.090784).epsilon(1e-6));
  // Renormalised top-1 has gate 1 and therefore no router gradient.
  const row_matrix<double> none = detail::score_gradient(c.route, std::vector<double>{1.0}, gate_norm::renormalize_top_k);
  CHECK(none.cwiseAbs().maxCoeff() < 1e-15);
}

TEST_CASE("forced routing to an expert of underflowed probability gives a finite, zero renormalised gate gradient") {
  // Regression: the selected mass p_forced was 0 in float, and 1/0 turned the router weights NaN.
  routing_result<float> r;
  r.scores = row_matrix<float>(1, 3);
  r.scores << 0.0f, 200.0f, -5.0f;
  detail::select(r, 1, gate_norm::renormalize_top_k);
  REQUIRE(r.probs(0, 0) == 0.0f);  // exp(-200) underflows
  r.ids[0] = 0;                     // forced to expert 0, as kv_anchor_router::route does
  r.gates[0] = 1.0f;
  const row_matrix<float> ds = detail::score_gradient(r, std::vector<float>{0.75f}, gate_norm::renormalize_top_k);
  CHECK(ds.allFinite());
  CHECK(ds.cwiseAbs().maxCoeff() == 0.0f);
  // Un-renormalised, the forced gate is p_0 and its gradient p_0 (1 - p_0) * dg is (finitely) 0 as well.
  r.gates[0] = r.probs(0, 0);
  const row_matrix<float> ds_all = detail::score_gradient(r, std::vector<float>{0.75f}, gate_norm::softmax_all_experts);
  CHECK(ds_all.allFinite());
}

TEST_CASE("TC-5: a badly trained new key steals the instance, and routing consistency counts it") {
  const row_matrix<double> e = tc1_instance();
  kv1::cache<double> c;
  kv1::route<double>(tc1_router(4), e, c);
  CHECK(c.route.probs(0, 3) == doctest::Approx(0.828951).epsilon(1e-6));
  CHECK(c.route.probs(0, 0) == doctest::Approx(0.142390).epsilon(1e-5));
  CHECK(c.route.id(0, 0) == 3);
}

TEST_CASE("finite-difference gradients of the SwiGLU, MLP (ReLU/SiLU/GELU) and LoRA experts") {
  check_expert_gradients<swiglu_expert>("swiglu");
  check_expert_gradients<mlp_expert<activation::silu>>("mlp silu");
  check_expert_gradients<mlp_expert<activation::gelu>>("mlp gelu");
  check_expert_gradients<mlp_expert<activation::relu>>("mlp relu");
  check_expert_gradients<lora_expert<3, activation::identity>>("lora");
  check_expert_gradients<lora_expert<3, activation::silu>>("lora silu");
}

template <class Router>
void check_adaptor_gradients(typename Router::options opt, const char* label, int experts = 3) {
  CAPTURE(label);
  using A = adaptor<double, Router, mlp_expert<activation::silu>>;
  const size_type d = 6, batch = 3, length = 2;
  A a(beacon::cpu{1}, {.d_model = d, .expert_hidden = 5, .router_rank = 3, .router = opt, .seed = 4});
  const row_matrix<double> e = random_matrix(batch, d, 7), x = random_matrix(batch * length, d, 8), target = random_matrix(batch * length, d, 9);
  for (int i = 0; i < experts; ++i) a.insert_expert(expert_init<double>::random_normal(10 + i, 0.5), beacon::as_view(std::as_const(e)));
  // Give the newest expert a non-zero output layer so every path carries gradient.
  for (auto* p : a.parameters())
    if (!p->frozen)
      for (std::size_t i = 0; i < p->value.size(); ++i) p->value[i] += 0.3 * std::sin(1.0 + static_cast<double>(i));
  auto loss = [&](A& ad, typename A::forward_state* st) {
    row_matrix<double> out(batch * length, d);
    ad.forward(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)), beacon::as_view(out), st);
    return 0.5 * (out - target).squaredNorm();
  };
  typename A::forward_state st;
  a.zero_grad();
  row_matrix<double> out(batch * length, d);
  a.forward(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)), beacon::as_view(out), &st);
  const row_matrix<double> dout = out - target;
  a.backward(st, beacon::as_view(std::as_const(dout)));
  double worst = 0;
  int checked = 0;
  for (auto* p : a.parameters()) {
    if (p->frozen) {
      for (double g : p->grad) CHECK(g == 0.0);
      continue;
    }
    for (std::size_t i = 0; i < p->value.size(); ++i) {
      const double keep = p->value[i];
      p->value[i] = keep + 1e-6;
      const double up = loss(a, nullptr);
      p->value[i] = keep - 1e-6;
      const double down = loss(a, nullptr);
      p->value[i] = keep;
      worst = std::max(worst, std::abs((up - down) / 2e-6 - p->grad[i]));
      ++checked;
    }
  }
  CHECK(checked > 0);
  CHECK(worst < 1e-6);
}

TEST_CASE("finite-difference gradients through the whole adaptor: gates, keys and projections") {
  kv_router_options paper;  // shared projection, dot, softmax over all experts
  check_adaptor_gradients<kv_anchor_router<top_k<1>>>(paper, "kv paper-faithful top-1");
  kv_router_options cosine;
  cosine.score = score_function::cosine;
  cosine.projection = projection_mode::per_expert_frozen;
  check_adaptor_gradients<kv_anchor_router<top_k<2>>>(cosine, "kv cosine per-expert top-2");
  check_adaptor_gradients<kv_anchor_router<top_k<1>>>(cosine, "kv cosine per-expert top-1", 1);  // a single expert
  kv_router_options renorm;
  renorm.gate = gate_norm::renormalize_top_k;
  renorm.score = score_function::scaled_dot;
  check_adaptor_gradients<kv_anchor_router<top_k<2>>>(renorm, "kv scaled renormalised top-2");
  softmax_router_options gate;
  gate.load_balance_weight = 0.0;
  check_adaptor_gradients<softmax_topk_router<top_k<2>>>(gate, "softmax top-2");
}

TEST_CASE("TC-6: ten insertions with training keep every earlier expert and key bit-identical") {
  using A = adaptor<float, kv_anchor_router<top_k<1>>, swiglu_expert>;
  const size_type d = 8, batch = 4, length = 3;
  A a(beacon::cpu{1}, {.d_model = d, .expert_hidden = 12, .router_rank = 4, .seed = 1});
  adamw opt;
  opt.lr = 1e-2;
  std::vector<std::vector<std::vector<float>>> snapshots;  // per step: bytes of every parameter then
  for (int step = 0; step < 10; ++step) {
    const auto e = random_matrix(batch, d, 100 + step).cast<float>().eval();
    const auto x = random_matrix(batch * length, d, 200 + step).cast<float>().eval();
    a.insert_expert(expert_init<float>::random_normal(static_cast<std::uint64_t>(step)), beacon::as_view(std::as_const(e)));
    for (int it = 0; it < 3; ++it)
      a.train_step(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)),
                   [](beacon::matrix_view<const float> out, beacon::matrix_view<float> dout) {
                     double l = 0;
                     for (size_type i = 0; i < out.rows(); ++i)
                       for (size_type j = 0; j < out.cols(); ++j) {
                         dout(i, j) = out(i, j) - 1.0f;
                         l += 0.5 * (out(i, j) - 1.0) * (out(i, j) - 1.0);
                       }
                     return l;
                   },
                   opt);
    // Everything of expert i and key i, as it was at the end of step i.
    std::vector<std::vector<float>> now;
    for (int i = 0; i <= step; ++i) {
      for (const auto* p : a.expert(i).params()) now.push_back(p->value);
      now.push_back(a.router().keys[static_cast<std::size_t>(i)].value);
    }
    for (std::size_t s = 0; s < snapshots.size(); ++s) {
      const auto& then = snapshots[s];
      for (std::size_t q = 0; q < then.size(); ++q) CHECK(std::memcmp(then[q].data(), now[q].data(), then[q].size() * sizeof(float)) == 0);
    }
    snapshots.push_back(now);
  }
  // The newest expert did train (its down projection moved away from zero).
  double moved = 0;
  for (float v : a.expert(9).down.value) moved += std::abs(v);
  CHECK(moved > 0);
}

TEST_CASE("inserting an expert with a zeroed output projection leaves outputs unchanged (renormalised top-1)") {
  using A = adaptor<double, kv_anchor_router<top_k<1>>, swiglu_expert>;
  kv_router_options o;
  o.gate = gate_norm::renormalize_top_k;
  const size_type d = 6;
  A a(beacon::cpu{1}, {.d_model = d, .expert_hidden = 8, .router_rank = 3, .router = o, .seed = 2});
  const row_matrix<double> e0 = random_matrix(4, d, 1), x = random_matrix(8, d, 2);
  a.insert_expert(expert_init<double>::random_normal(1), beacon::as_view(std::as_const(e0)));
  for (auto& v : const_cast<parameter<double>&>(a.expert(0).down).value) v = 0.1;  // a trained first expert
  row_matrix<double> before(8, d), after(8, d);
  a.forward(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e0)), beacon::as_view(before));
  // A copy-of-FFN second expert: gate/up copied from host weights, down zeroed.
  const row_matrix<double> wg = random_matrix(8, d, 3), wu = random_matrix(8, d, 4);
  a.insert_expert(expert_init<double>::copy_of({beacon::as_view(wg), beacon::as_view(wu)}), beacon::as_view(std::as_const(e0)));
  a.forward(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e0)), beacon::as_view(after));
  CHECK((before - after).cwiseAbs().maxCoeff() == 0.0);
  CHECK(a.expert(1).gate.value[5] == wg(0, 5));
  CHECK_THROWS_AS(a.insert_expert(expert_init<double>::copy_of({beacon::as_view(wg)}), {}), beacon::value_error);
}

TEST_CASE("TC-7: the instance embedding comes from frozen tables and does not change with insertions") {
  const row_matrix<double> e1 = tc1_instance();
  using A = adaptor<double, kv1, swiglu_expert>;
  A a(beacon::cpu{1}, {.d_model = 4, .expert_hidden = 4});
  for (int i = 0; i < 3; ++i) a.insert_expert(expert_init<double>::random_normal(static_cast<std::uint64_t>(i)), beacon::as_view(e1));
  const row_matrix<double> e2 = tc1_instance();
  CHECK(std::memcmp(e1.data(), e2.data(), sizeof(double) * 4) == 0);
}

TEST_CASE("dispatch groups tokens by expert deterministically, skips null routes, and the adaptor reports load") {
  const std::vector<index_type> ids = {1, 0, -1, -1, 1, 2};  // 3 instances x top-2
  const auto p = make_dispatch(beacon::cpu{1}, ids, 2, 3, 6, 2);  // 6 tokens, 2 per instance
  CHECK(p.counts == std::vector<index_type>{2, 4, 2});
  CHECK(p.offsets == std::vector<index_type>{0, 2, 6, 8});
  CHECK(p.token == std::vector<index_type>{0, 1, 0, 1, 4, 5, 4, 5});
  CHECK(p.choice == std::vector<index_type>{1, 1, 0, 0, 0, 0, 1, 1});
  CHECK_THROWS_AS(make_dispatch(beacon::cpu{1}, {3}, 1, 3, 1, 1), beacon::value_error);
  // Null route: instances whose best score is below the threshold get no expert (zero output).
  using A = adaptor<double, kv1, swiglu_expert>;
  kv_router_options o;
  o.null_route = true;
  o.null_threshold = 1e9;
  A a(beacon::cpu{1}, {.d_model = 4, .expert_hidden = 4, .router = o});
  const row_matrix<double> e = random_matrix(2, 4, 1), x = random_matrix(4, 4, 2);
  a.insert_expert(expert_init<double>::random_normal(1), beacon::as_view(e));
  for (auto& v : const_cast<parameter<double>&>(a.expert(0).down).value) v = 1.0;
  row_matrix<double> out(4, 4);
  typename A::forward_state st;
  a.forward(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)), beacon::as_view(out), &st);
  CHECK(out.cwiseAbs().maxCoeff() == 0.0);
  CHECK(A::expert_load(st) == std::vector<index_type>{0});
  CHECK(a.route_top1(beacon::as_view(std::as_const(e))) == std::vector<index_type>{-1, -1});
}

TEST_CASE("routing consistency: each step's edits route to their own expert with anchor-initialised keys") {
  using A = adaptor<double, kv_anchor_router<top_k<1>>, mlp_expert<activation::relu>>;
  kv_router_options o;
  o.projection = projection_mode::per_expert_frozen;
  o.score = score_function::cosine;
  A a(beacon::cpu{1}, {.d_model = 8, .expert_hidden = 4, .router_rank = 8, .router = o, .seed = 3});
  std::vector<row_matrix<double>> batches;
  for (int s = 0; s < 3; ++s) {
    row_matrix<double> b = random_matrix(5, 8, 50 + s, 0.05);
    b.col(s).array() += 3.0;  // each step's edits share a distinct direction
    batches.push_back(b);
    a.insert_expert(expert_init<double>::random_normal(1), beacon::as_view(std::as_const(batches.back())));
  }
  std::vector<beacon::matrix_view<const double>> views;
  for (const auto& b : batches) views.push_back(beacon::as_view(b));
  CHECK(a.routing_consistency(views) == doctest::Approx(1.0));
  CHECK_THROWS_AS(A(beacon::cpu{1}, {.d_model = 0, .expert_hidden = 4}), beacon::value_error);
}

TEST_CASE("instance-anchor routing: nearest stored anchor wins, unrelated inputs get the null route, old routes never move") {
  using A = adaptor<double, instance_anchor_router<top_k<1>>, mlp_expert<activation::relu>>;
  A a(beacon::cpu{1}, {.d_model = 6, .expert_hidden = 4, .router = {.threshold = 0.8}});
  std::vector<row_matrix<double>> steps;
  for (int s = 0; s < 3; ++s) {
    row_matrix<double> b = random_matrix(4, 6, 300 + s, 0.05);
    b.col(s).array() += 1.0;
    b.col(5).array() += 2.0;  // a direction shared by every edit: centring removes it
    steps.push_back(b);
    a.insert_expert(expert_init<double>::random_normal(1), beacon::as_view(std::as_const(steps.back())));
    // Earlier batches still route to their own expert after every insertion.
    std::vector<beacon::matrix_view<const double>> views;
    for (const auto& m : steps) views.push_back(beacon::as_view(m));
    CHECK(a.routing_consistency(views) == 1.0);
  }
  row_matrix<double> unrelated = row_matrix<double>::Zero(1, 6);
  unrelated(0, 3) = 1.0;
  unrelated(0, 5) = 2.0;
  CHECK(a.route_top1(beacon::as_view(std::as_const(unrelated))) == std::vector<index_type>{-1});
  CHECK(a.router().anchors.rows() == 12);
  CHECK(a.parameters().size() == 3 * 4);  // experts only: the router has nothing to train
}

TEST_CASE("routing replay: cross-entropy value, finite-difference gradients of keys and projection, frozen keys untouched, bad labels") {
  // TC-1 router (3 keys), e = [2,1,1,0]: z = [2, 0], v = SiLU(z) = [2 sigma(2), 0] = [a, 0], scores
  // [a, 0, -a], so CE(label 0) = log(1 + e^-a + e^-2a).
  auto s = tc1_router();
  const row_matrix<double> e1 = tc1_instance();
  const double ce = kv1::replay<double>(s, e1, {0}, 1.0);
  const double a = 2.0 / (1.0 + std::exp(-2.0));
  CHECK(ce == doctest::Approx(std::log(1 + std::exp(-a) + std::exp(-2 * a))).epsilon(1e-12));

  // Gradients: 2 keys frozen (as after insertion), the newest key and the shared projection train.
  for (double weight : {1.0, 0.25}) {
    CAPTURE(weight);
    auto r = kv1::make<double>(5, 3, 4, kv_router_options{}, 11);
    for (size_type i = 0; i < 3; ++i) kv1::insert<double>(r, i, random_matrix(3, 5, 20 + static_cast<unsigned>(i)), 11);
    const row_matrix<double> e = random_matrix(6, 5, 31);
    const std::vector<index_type> labels = {0, 1, 2, 2, 1, 0};
    for (auto* p : r.params()) p->zero_grad();
    const auto frozen0 = r.keys[0].value;
    kv1::replay<double>(r, e, labels, weight);
    CHECK(r.keys[0].frozen);
    CHECK(std::all_of(r.keys[0].grad.begin(), r.keys[0].grad.end(), [](double g) { return g == 0; }));
    double worst = 0, largest = 0;
    for (auto* p : r.params()) {
      if (p->frozen) continue;
      for (std::size_t i = 0; i < p->value.size(); ++i) {
        const double keep = p->value[i];
        p->value[i] = keep + 1e-6;
        auto copy_up = r;
        const double up = kv1::replay<double>(copy_up, e, labels, 0.0);
        p->value[i] = keep - 1e-6;
        auto copy_down = r;
        const double down = kv1::replay<double>(copy_down, e, labels, 0.0);
        p->value[i] = keep;
        worst = std::max(worst, std::abs(weight * (up - down) / 2e-6 - p->grad[i]));
        largest = std::max(largest, std::abs(p->grad[i]));
      }
    }
    CHECK(largest > 1e-3);  // the check below compares real gradients
    CHECK(worst < 1e-6);
    CHECK(r.keys[0].value == frozen0);
  }

  CHECK_THROWS_AS(kv1::replay<double>(s, e1, {3}, 1.0), beacon::value_error);     // no expert 3
  CHECK_THROWS_AS(kv1::replay<double>(s, e1, {0, 1}, 1.0), beacon::shape_error);  // one label per row
  CHECK_THROWS_AS(kv1::replay<double>(s, e1, {0}, -1.0), beacon::value_error);
}

TEST_CASE("routing replay through the adaptor keeps every batch on its own expert under a retrained shared projection") {
  using A = adaptor<double, kv_anchor_router<top_k<1>>, mlp_expert<activation::relu>>;
  kv_router_options o;
  o.gate = gate_norm::renormalize_top_k;
  A a(beacon::cpu{1}, {.d_model = 6, .expert_hidden = 4, .router_rank = 3, .router = o, .seed = 5});
  row_matrix<double> seen(0, 6);
  std::vector<index_type> seen_expert;
  std::vector<row_matrix<double>> batches;
  adamw opt;
  opt.lr = 0.05;
  opt.weight_decay = 0;
  for (int step = 0; step < 4; ++step) {
    // Each batch is a cluster around its own centre.
    row_matrix<double> e = random_matrix(5, 6, 100 + static_cast<unsigned>(step), 0.2);
    e.rowwise() += random_matrix(1, 6, 200 + static_cast<unsigned>(step), 2.0).row(0);
    batches.push_back(e);
    a.insert_expert(expert_init<double>::random_normal(static_cast<std::uint64_t>(step)), beacon::as_view(std::as_const(e)));
    seen.conservativeResize(seen.rows() + 5, 6);
    seen.bottomRows(5) = e;
    seen_expert.insert(seen_expert.end(), 5, static_cast<index_type>(step));
    for (int it = 0; it < 60; ++it) {
      a.zero_grad();
      a.routing_replay(beacon::as_view(std::as_const(seen)), seen_expert, 1.0);
      a.step(opt);
    }
  }
  std::vector<beacon::matrix_view<const double, beacon::host_space>> views;
  for (const auto& b : batches) views.push_back(beacon::as_view(b));
  CHECK(a.routing_consistency(views) == 1.0);
  CHECK_THROWS_AS(a.routing_replay(beacon::as_view(std::as_const(seen)), std::vector<index_type>(seen_expert.size(), 7), 1.0), beacon::value_error);
}
