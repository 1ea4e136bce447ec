// SPDX-License-Identifier: Apache-2.0
// The algorithms against the third backend (tests/support/reference_backend.hpp): the adaptor (three
// router x expert combinations, training included), k-means and the edit-order planner, the
// semantic loss (the generic path, against the CPU's fused one), and the diffusion steps compile
// with nothing but the contract's primitives and agree with the CPU backend. Agreement is to GEMM
// rounding (the reference sums in double, Eigen in the scalar type), bit-exact where the math is
// elementwise.
#include <doctest/doctest.h>

#include "../support/random_matrix.hpp"
#include "../support/reference_backend.hpp"

#include <beacon/beacon.hpp>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace moe = beacon::moe;
using beacon::index_type;
using beacon::row_matrix;
using beacon::size_type;
using beacon::testing::reference;
using beacon_test::random_matrix;

namespace {

template <class T>
row_matrix<T> random_rows(size_type r, size_type c, unsigned seed, double scale = 1.0) {
  return random_matrix(r, c, seed, scale).cast<T>();
}

template <class T>
double max_abs_diff(const std::vector<T>& a, const std::vector<T>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return worst;
}

/// Two editing steps of an adaptor on backend B; returns the final forward output and top-1 routes.
template <class Router, class Expert, class T, class B>
std::pair<std::vector<T>, std::vector<index_type>> edit_twice(const B& be) {
  using adaptor = moe::adaptor<T, Router, Expert, B>;
  typename adaptor::config cfg{.d_model = 12, .expert_hidden = 16, .router_rank = 4, .seed = 5};
  adaptor a(be, cfg);
  beacon::adamw opt;
  opt.lr = 1e-2;
  row_matrix<T> x, e;
  for (int step = 0; step < 2; ++step) {
    // Each step edits its own batch (distinct anchors: identical ones would tie to the last ulp).
    x = random_rows<T>(10, 12, 1 + 10 * static_cast<unsigned>(step));
    e = random_rows<T>(5, 12, 2 + 10 * static_cast<unsigned>(step));
    a.insert_expert(moe::expert_init<T>::random_normal(static_cast<std::uint64_t>(step + 3)), beacon::as_view(e));
    for (int it = 0; it < 5; ++it)
      a.train_step(beacon::as_view(x), beacon::as_view(e),
                   [](beacon::matrix_view<const T> out, beacon::matrix_view<T> d) {
                     double l = 0;
                     for (size_type i = 0; i < out.rows(); ++i)
                       for (size_type j = 0; j < out.cols(); ++j) {
                         d(i, j) = out(i, j) - T(0.25);
                         l += 0.5 * static_cast<double>(d(i, j) * d(i, j));
                       }
                     return l;
                   },
                   opt);
  }
  row_matrix<T> y(10, 12);
  a.forward(beacon::as_view(x), beacon::as_view(e), beacon::as_view(y));
  return {std::vector<T>(y.data(), y.data() + y.size()), a.route_top1(beacon::as_view(e))};
}

template <class Router, class Expert, class T>
void check_adaptor(double tolerance) {
  const auto on_cpu = edit_twice<Router, Expert, T>(beacon::cpu{2});
  const auto on_reference = edit_twice<Router, Expert, T>(reference{});
  CAPTURE(Router::identity());
  CAPTURE(sizeof(T));
  CHECK(on_cpu.second == on_reference.second);
  CHECK(max_abs_diff(on_cpu.first, on_reference.first) < tolerance);
}

}  // namespace

TEST_CASE("reference backend: the adaptor (kv anchor x SwiGLU, softmax top-2 x MLP, instance anchor x LoRA) trains as on the CPU") {
  check_adaptor<moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, double>(1e-11);
  check_adaptor<moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, float>(2e-4);
  check_adaptor<moe::softmax_topk_router<moe::top_k<2>>, moe::mlp_expert<beacon::activation::gelu>, double>(1e-11);
  check_adaptor<moe::instance_anchor_router<moe::top_k<1>>, moe::lora_expert<4, beacon::activation::relu>, double>(1e-11);
}

TEST_CASE("reference backend: k-means and the edit-order planner give the CPU's clusters and batches") {
  const row_matrix<double> x = random_rows<double>(60, 6, 7);
  beacon::plan::kmeans_options<double> o;
  o.clusters = 4;
  o.seed = 3;
  o.restarts = 2;
  const auto a = beacon::plan::kmeans(beacon::cpu{2}, beacon::as_view(x), o);
  const auto b = beacon::plan::kmeans(reference{}, beacon::as_view(x), o);
  CHECK(a.labels == b.labels);
  CHECK(a.iterations == b.iterations);
  CHECK(b.inertia == doctest::Approx(a.inertia).epsilon(1e-12));
  beacon::plan::plan_options<double> p;
  p.batch_size = 5;
  const auto pa = beacon::plan::plan_edit_order(beacon::cpu{2}, beacon::as_view(x), p);
  const auto pb = beacon::plan::plan_edit_order(reference{}, beacon::as_view(x), p);
  CHECK(pa.batches == pb.batches);
  CHECK(pb.similarity.within == doctest::Approx(pa.similarity.within).epsilon(1e-12));
}

TEST_CASE("reference backend: the generic semantic loss equals the CPU's fused one (loss, distances, gradient)") {
  using namespace beacon::semantic;
  const size_type items = 3, length = 4, vocab = 9, dim = 5, rows = items * length;
  const row_matrix<double> logits = random_rows<double>(rows, vocab, 11, 1.5), emb = random_rows<double>(vocab, dim, 12);
  const std::vector<index_type> targets = {1, 4, 0, 8, 2, 2, 7, 3, 5, 6, 0, 1};
  const std::vector<std::uint8_t> mask = {0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0};
  const auto z = beacon::as_view(logits);
  const auto y = beacon::host_vector(targets.data(), rows);
  const auto m = beacon::host_matrix(mask.data(), items, length);
  const auto e = beacon::as_view(emb);
  for (const auto mode : {output_vector::expected, output_vector::argmax})
    for (const auto granularity : {loss_granularity::per_item, loss_granularity::per_token})
      for (const double lambda : {0.0, 0.7}) {
        if (mode == output_vector::argmax && lambda != 0.0) continue;
        reweight_options o;
        o.scheme = weight_scheme::softmax;
        o.additive_lambda = lambda;
        row_matrix<double> g_cpu(rows, vocab), g_ref(rows, vocab);
        g_ref.setConstant(99.0);  // every entry must be written (0 on prompt rows)
        const auto a = semantic_cross_entropy(beacon::cpu{2}, z, y, m, e, o, beacon::as_view(g_cpu), granularity, mode);
        const auto b = semantic_cross_entropy(reference{}, z, y, m, e, o, beacon::as_view(g_ref), granularity, mode);
        CAPTURE(static_cast<int>(mode));
        CAPTURE(static_cast<int>(granularity));
        CAPTURE(lambda);
        CHECK(b.combined.loss == doctest::Approx(a.combined.loss).epsilon(1e-12));
        REQUIRE(a.distance.size() == b.distance.size());
        CHECK(max_abs_diff(a.distance, b.distance) < 1e-12);
        CHECK(max_abs_diff(a.ce, b.ce) < 1e-12);
        CHECK((g_cpu - g_ref).cwiseAbs().maxCoeff() < 1e-12);
      }
  // Errors come from the shared checks: same type on both paths.
  row_matrix<double> bad = logits;
  bad(1, 3) = std::nan("");
  const reweight_options o;
  CHECK_THROWS_WITH_AS(semantic_cross_entropy(reference{}, beacon::as_view(bad), y, m, e, o, beacon::matrix_view<double>{}),
                       doctest::Contains("row 1"), beacon::value_error);
  CHECK_THROWS_WITH_AS(semantic_cross_entropy(beacon::cpu{1}, beacon::as_view(bad), y, m, e, o, beacon::matrix_view<double>{}),
                       doctest::Contains("row 1"), beacon::value_error);
}

TEST_CASE("reference backend: the diffusion steps (q_sample, jitter, reverse step, re-anchoring, losses, rounding) match the CPU") {
  using namespace beacon::diffusion;
  const size_type rows = 6, dim = 4, vocab = 7;
  const row_matrix<double> x0 = random_rows<double>(rows, dim, 21), xk = random_rows<double>(rows, dim, 22),
                           emb = random_rows<double>(vocab, dim, 23), bias = random_rows<double>(1, vocab, 24);
  const std::vector<double> a = {1, .9, .8, .7, .6, .5}, b = {.1, .2, .3, .4, .5, .6}, c = {0, .1, 0, .2, .3, 0};
  const beacon::philox_stream noise{17, 3};
  auto run = [&](const auto& be) {
    std::vector<double> out;
    row_matrix<double> xt(rows, dim), x1(rows, dim), x2 = xk;
    q_sample(be, beacon::host_vector(a.data(), rows), beacon::as_view(x0), beacon::host_vector(b.data(), rows), noise, beacon::as_view(xt));
    reverse_step(be, beacon::host_vector(a.data(), rows), beacon::as_view(x0), beacon::host_vector(b.data(), rows), beacon::as_view(xk),
                 beacon::host_vector(c.data(), rows), noise, beacon::as_view(x1));
    const std::vector<index_type> ids = {3, 0, 6, 6, 1, 2}, source = {4, 1};
    row_matrix<double> jitter(rows, dim);
    embed_with_jitter(be, beacon::as_view(emb), beacon::host_vector(ids.data(), rows), 0.2, noise, beacon::as_view(jitter));
    reanchor_source(be, beacon::as_view(x0), beacon::host_vector(source.data(), 2), beacon::as_view(x2));
    const schedule_tables s = make_schedule(schedule_kind::sqrt, 20);
    const std::vector<index_type> t = {0, 7};
    const auto l = diffusion_losses(be, s, t, beacon::as_view(x0), beacon::as_view(xk), beacon::as_view(jitter), beacon::as_view(emb),
                                    beacon::host_vector(bias.data(), vocab), beacon::host_vector(ids.data(), rows));
    std::vector<double> norms(vocab);
    embedding_squared_norms(be, beacon::as_view(emb), beacon::host_vector(norms.data(), vocab));
    std::vector<index_type> nearest(rows);
    row_matrix<double> rounded(rows, dim);
    round_to_embedding(be, beacon::as_view(xk), beacon::as_view(emb), beacon::host_vector<const double>(norms.data(), vocab),
                       beacon::host_vector(nearest.data(), rows), beacon::as_view(rounded));
    for (const auto* m : {&xt, &x1, &jitter, &x2, &rounded}) out.insert(out.end(), m->data(), m->data() + m->size());
    for (const auto* v : {&l.mse, &l.tT, &l.decoder_nll, &l.total}) out.insert(out.end(), v->begin(), v->end());
    for (const auto i : nearest) out.push_back(static_cast<double>(i));
    return out;
  };
  const auto on_cpu = run(beacon::cpu{2});
  const auto on_reference = run(reference{});
  CHECK(max_abs_diff(on_cpu, on_reference) < 1e-12);
}
