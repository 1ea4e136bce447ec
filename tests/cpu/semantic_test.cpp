// SPDX-License-Identifier: Apache-2.0
// Semantic PEFT: spec semantic_peft.md cases T1-T9, finite-difference gradients, reductions to plain
// cross-entropy, a 50 000-word vocabulary in float, and bad input.
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>
#include <beacon/semantic.hpp>

#include <cmath>
#include <random>
#include <vector>

using namespace beacon::semantic;
using beacon::index_type;
using beacon::size_type;

namespace {
double dist(std::vector<double> u, std::vector<double> v, distance_options o = {}) {
  return semantic_distance(u.data(), v.data(), static_cast<size_type>(u.size()), o);
}

/// Plain mean cross-entropy over the answer rows of each item, then over items.
double plain_ce(const std::vector<double>& z, size_type vocab, const std::vector<index_type>& targets, const std::vector<std::uint8_t>& mask,
                size_type length) {
  const size_type items = static_cast<size_type>(mask.size()) / length;
  double total = 0;
  for (size_type b = 0; b < items; ++b) {
    double s = 0;
    int m = 0;
    for (size_type l = 0; l < length; ++l) {
      if (!mask[static_cast<std::size_t>(b * length + l)]) continue;
      const double* row = z.data() + (b * length + l) * vocab;
      double mx = -INFINITY, se = 0;
      for (size_type v = 0; v < vocab; ++v) mx = std::max(mx, row[v]);
      for (size_type v = 0; v < vocab; ++v) se += std::exp(row[v] - mx);
      s += mx + std::log(se) - row[targets[static_cast<std::size_t>(b * length + l)]];
      ++m;
    }
    total += s / m;
  }
  return total / static_cast<double>(items);
}

struct toy {
  size_type items = 3, length = 3, vocab = 7, dim = 4;
  std::vector<double> logits, embedding;
  std::vector<index_type> targets;
  std::vector<std::uint8_t> mask = {0, 1, 1, 0, 0, 1, 1, 1, 1};  // prompt positions masked
  toy() {
    std::mt19937 gen(3);
    std::normal_distribution<double> n01(0, 1);
    logits.resize(static_cast<std::size_t>(items * length * vocab));
    for (auto& v : logits) v = 1.5 * n01(gen);
    embedding.resize(static_cast<std::size_t>(vocab * dim));
    for (auto& v : embedding) v = n01(gen);
    targets = {0, 3, 5, 2, 6, 1, 4, 4, 0};
  }
  semantic_ce_result run(const reweight_options& o, std::vector<double>* grad, loss_granularity g = loss_granularity::per_item,
                         const std::vector<double>* z = nullptr) const {
    const auto& zz = z ? *z : logits;
    auto gv = grad ? beacon::host_matrix(grad->data(), items * length, vocab) : beacon::host_matrix<double>(nullptr, 0, vocab);
    return semantic_cross_entropy(beacon::cpu{1}, beacon::host_matrix(zz.data(), items * length, vocab),
                                  beacon::host_vector(targets.data(), items * length), beacon::host_matrix(mask.data(), items, length),
                                  beacon::host_matrix(embedding.data(), vocab, dim), o, gv, g);
  }
};
}  // namespace

TEST_CASE("T1: cosine distance table, scale invariance and the sign flip") {
  CHECK(dist({1, 0}, {0, 1}) == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(dist({1, 2, 2}, {2, 1, 2}) == doctest::Approx(1.0 / 9).epsilon(1e-9));
  CHECK(dist({3, 4}, {3, 4}) == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(dist({1, 0}, {-2, 0}) == doctest::Approx(2.0).epsilon(1e-12));
  CHECK(dist({0, 0}, {1, 1}) == 1.0);
  CHECK(dist({0, 0}, {0, 0}) == 1.0);
  CHECK(dist({1, 0}, {1, 1}) == doctest::Approx(0.292893).epsilon(1e-6));
  CHECK(dist({2.5, 5, 5}, {2, 1, 2}) == doctest::Approx(dist({1, 2, 2}, {2, 1, 2})).epsilon(1e-12));
  CHECK(dist({-1, -2, -2}, {2, 1, 2}) == doctest::Approx(2 - 1.0 / 9).epsilon(1e-9));
  // The product clamp differs only below eps; the Euclidean ablation is unbounded.
  CHECK(dist({1e-9, 0}, {1, 0}, {.clamp = cosine_clamp::per_norm}) == doctest::Approx(0.9).epsilon(1e-9));
  CHECK(dist({1e-9, 0}, {1, 0}, {.clamp = cosine_clamp::product}) == doctest::Approx(0.9).epsilon(1e-9));
  CHECK(dist({1e-9, 0}, {1e-9, 0}, {.clamp = cosine_clamp::product}) == doctest::Approx(1.0 - 1e-18 / 1e-8).epsilon(1e-12));
  CHECK(dist({3, 0}, {0, 4}, {.kind = distance_kind::euclidean}) == 5.0);
}

TEST_CASE("T2, T3, T4: expected embedding, logits, and sequence pooling") {
  const std::vector<double> e = {1, 0, 0, 1, 1, 1};  // e0, e1, e2
  const auto E = beacon::host_matrix(e.data(), 3, 2);
  // T2 with explicit probabilities: o = E^T p = (0.75, 0.5); vs e0: cos 0.832050.
  const std::vector<double> o2 = {0.5 * 1 + 0.25 * 0 + 0.25 * 1, 0.5 * 0 + 0.25 * 1 + 0.25 * 1};
  CHECK(o2 == std::vector<double>{0.75, 0.5});
  CHECK(dist(o2, {1, 0}) == doctest::Approx(0.167950).epsilon(1e-6));
  // T3 from logits z = (2, 1, 0).
  const std::vector<double> z = {2, 1, 0};
  std::vector<double> probs(3), o(2);
  expected_embeddings(beacon::cpu{1}, beacon::host_matrix(z.data(), 1, 3), E, beacon::host_matrix(probs.data(), 1, 3),
                      beacon::host_matrix(o.data(), 1, 2));
  CHECK(probs[0] == doctest::Approx(0.665241).epsilon(1e-6));
  CHECK(probs[2] == doctest::Approx(0.090031).epsilon(1e-5));
  CHECK(o[0] == doctest::Approx(0.755272).epsilon(1e-6));
  CHECK(o[1] == doctest::Approx(0.334759).epsilon(1e-6));
  CHECK(dist(o, {0, 1}) == doctest::Approx(0.594789).epsilon(1e-6));
  CHECK(-std::log(probs[1]) == doctest::Approx(1.407606).epsilon(1e-6));
  std::vector<index_type> ids(1);
  std::vector<double> oa(2);
  argmax_embeddings(beacon::cpu{1}, beacon::host_matrix(z.data(), 1, 3), E, beacon::host_vector(ids.data(), 1), beacon::host_matrix(oa.data(), 1, 2));
  CHECK(ids[0] == 0);
  CHECK(oa == std::vector<double>{1, 0});
  // T4: MEAN pooling of targets (0, 1) = (0.5, 0.5), same direction as token 2: d = 0.
  const std::vector<index_type> seq = {0, 1, 2, 2};
  const std::vector<std::uint8_t> m = {1, 1, 1, 0};
  std::vector<double> sem(4);
  sequence_vectors(beacon::cpu{1}, E, beacon::host_matrix(seq.data(), 2, 2), beacon::host_matrix(m.data(), 2, 2), pooling::mean,
                   beacon::host_matrix(sem.data(), 2, 2));
  CHECK(sem == std::vector<double>{0.5, 0.5, 1, 1});
  CHECK(dist({sem[0], sem[1]}, {sem[2], sem[3]}) == doctest::Approx(0.0).epsilon(1e-12));
  sequence_vectors(beacon::cpu{1}, E, beacon::host_matrix(seq.data(), 2, 2), beacon::host_matrix(m.data(), 2, 2), pooling::first,
                   beacon::host_matrix(sem.data(), 2, 2));
  CHECK(sem == std::vector<double>{1, 0, 1, 1});
  const std::vector<std::uint8_t> empty = {1, 1, 0, 0};
  CHECK_THROWS_AS(sequence_vectors(beacon::cpu{1}, E, beacon::host_matrix(seq.data(), 2, 2), beacon::host_matrix(empty.data(), 2, 2),
                                   pooling::mean, beacon::host_matrix(sem.data(), 2, 2)),
                  beacon::value_error);
}

TEST_CASE("T5 and T6: drift, push-away rate, conflict and cancellation ratio") {
  const auto r = knowledge_drift(std::vector<double>{0.3, 0.3, 0.3}, std::vector<double>{0.5, 0.3, 0.2});
  CHECK(r.delta[0] == doctest::Approx(0.2).epsilon(1e-12));
  CHECK(r.pushed == 1);
  CHECK(r.push_away_rate == doctest::Approx(1.0 / 3).epsilon(1e-12));
  CHECK_THROWS_AS(knowledge_drift(std::vector<double>{0.1}, std::vector<double>{}), beacon::shape_error);
  auto features = [](std::vector<double> f) { return f; };
  struct row {
    std::vector<double> f;
    size_type n;
    double rho, c;
  };
  const row rows[] = {{{1, 0, -1, 0}, 2, 0.0, 1.0},
                      {{1, 0, 0, 1}, 2, 0.707107, 0.0},
                      {{1, 0, 2, 0}, 2, 1.0, 0.0},
                      {{1, 0, 0, 1, -1, -1}, 3, 0.0, 0.471405},
                      {{0.3, -2}, 1, 1.0, 0.0}};
  for (const auto& rw : rows) {
    const auto f = features(rw.f);
    const auto v = beacon::host_matrix(f.data(), rw.n, 2);
    CHECK(cancellation_ratio(v) == doctest::Approx(rw.rho).epsilon(1e-6));
    CHECK(feature_conflict(v) == doctest::Approx(rw.c).epsilon(1e-6));
  }
  const std::vector<double> zeros(4, 0.0);
  CHECK(cancellation_ratio(beacon::host_matrix(zeros.data(), 2, 2)) == 1.0);
  const std::vector<double> tgt = {1, 1}, out = {0.5, 2};
  std::vector<double> feat(2);
  knowledge_features(beacon::host_matrix(tgt.data(), 1, 2), beacon::host_matrix(out.data(), 1, 2), beacon::host_matrix(feat.data(), 1, 2));
  CHECK(feat == std::vector<double>{0.5, -1});
}

TEST_CASE("T7: threshold, percentile, mean-var filtering, ties, all-filtered and empty input") {
  const std::vector<double> d0 = {0.1, 0.4, 0.2, 0.9, 0.3};
  auto run = [&](filter_options o) { return filter_by_distance(d0, o); };
  auto r = run({.criterion = filter_criterion::threshold, .threshold = 0.35});
  CHECK(r.kept == std::vector<index_type>{0, 2, 4});
  CHECK(r.mean_before == doctest::Approx(0.38).epsilon(1e-12));
  CHECK(r.var_before == doctest::Approx(0.0776).epsilon(1e-12));
  r = run({.criterion = filter_criterion::threshold, .threshold = 0.05});
  CHECK(r.kept.empty());
  CHECK(r.status == filter_status::all_filtered);
  r = run({.criterion = filter_criterion::percentile, .fraction = 0.2});
  CHECK(r.kept == std::vector<index_type>{0, 1, 2, 4});
  CHECK(r.mean_after == doctest::Approx(0.25).epsilon(1e-12));
  CHECK(r.var_after == doctest::Approx(0.0125).epsilon(1e-12));
  r = run({.criterion = filter_criterion::mean_var, .keep = 3, .lambda = 0});
  CHECK(r.kept == std::vector<index_type>{0, 2, 4});
  CHECK(r.objective == doctest::Approx(0.2).epsilon(1e-12));
  r = run({.criterion = filter_criterion::mean_var, .keep = 3, .lambda = 1});
  CHECK(r.kept == std::vector<index_type>{0, 2, 4});
  CHECK(r.objective == doctest::Approx(0.193333).epsilon(1e-5));
  r = run({.criterion = filter_criterion::mean_var, .keep = 3, .lambda = 10});
  CHECK(r.kept == std::vector<index_type>{0, 2, 3});  // the outlier is kept
  CHECK(r.objective == doctest::Approx(-0.866667).epsilon(1e-5));
  CHECK(r.mean_after == doctest::Approx(0.4).epsilon(1e-12));
  const std::vector<double> tied = {0.5, 0.5, 0.1};
  CHECK(filter_by_distance(tied, {.criterion = filter_criterion::percentile, .fraction = 1.0 / 3}).kept == std::vector<index_type>{0, 2});
  const auto none = filter_by_distance(std::vector<double>{}, {.criterion = filter_criterion::threshold});
  CHECK(none.kept.empty());
  CHECK(none.status == filter_status::ok);
  // min_keep, and NaN distances are dropped and counted.
  r = run({.criterion = filter_criterion::threshold, .threshold = 0.05, .min_keep = 2});
  CHECK(r.kept == std::vector<index_type>{0, 2});
  const std::vector<double> with_nan = {0.1, NAN, 0.2};
  r = filter_by_distance(with_nan, {.criterion = filter_criterion::threshold, .threshold = 1});
  CHECK(r.kept == std::vector<index_type>{0, 2});
  CHECK(r.invalid == 1);
  CHECK_THROWS_AS(run({.criterion = filter_criterion::percentile, .fraction = 1.5}), beacon::value_error);
  CHECK_THROWS_AS(run({.criterion = filter_criterion::mean_var, .keep = 6}), beacon::value_error);
}

TEST_CASE("T8: weight schemes, normalisations, additive term, empty batch and the zero-weight fallback") {
  const std::vector<double> d = {0.2, 0.4, 0.6}, ce = {1, 2, 3};
  auto r = combine_weighted_loss(ce, d, {.scheme = weight_scheme::linear, .alpha = 1});
  CHECK(r.loss == doctest::Approx(8.8 / 4.2).epsilon(1e-12));
  CHECK(r.weights[0] == doctest::Approx(0.857143).epsilon(1e-6));
  CHECK(r.weights[2] == doctest::Approx(1.142857).epsilon(1e-6));
  CHECK(combine_weighted_loss(ce, d, {.scheme = weight_scheme::linear, .alpha = 0}).loss == 2.0);
  r = combine_weighted_loss(ce, d, {.scheme = weight_scheme::softmax, .tau = 0.2});
  CHECK(r.coefficients[0] == doctest::Approx(0.090031).epsilon(1e-5));
  CHECK(r.coefficients[2] == doctest::Approx(0.665241).epsilon(1e-6));
  CHECK(r.loss == doctest::Approx(2.575210).epsilon(1e-6));
  CHECK(combine_weighted_loss(ce, d, {.scheme = weight_scheme::softmax, .tau = 0.2, .normalisation = weight_normalisation::mean}).loss ==
        doctest::Approx(r.loss).epsilon(1e-12));  // softmax weights sum to B: both normalisations coincide
  CHECK(combine_weighted_loss(ce, d, {.scheme = weight_scheme::softmax, .tau = 1e9}).loss == doctest::Approx(2.0).epsilon(1e-9));
  const std::vector<double> same = {0.3, 0.3, 0.3};
  for (auto scheme : {weight_scheme::linear, weight_scheme::softmax, weight_scheme::power})
    CHECK(combine_weighted_loss(ce, same, {.scheme = scheme}).loss == doctest::Approx(2.0).epsilon(1e-12));
  CHECK(combine_weighted_loss(ce, d, {.scheme = weight_scheme::linear, .alpha = 0, .additive_lambda = 0.5}).loss ==
        doctest::Approx(2.2).epsilon(1e-12));
  const auto empty = combine_weighted_loss({}, {}, {});
  CHECK(empty.empty);
  CHECK(empty.loss == 0.0);
  const std::vector<double> zero = {0, 0, 0};
  const auto fb = combine_weighted_loss(ce, zero, {.scheme = weight_scheme::power, .gamma = 1, .w_min = 0});
  CHECK(fb.fell_back);
  CHECK(fb.loss == doctest::Approx(2.0).epsilon(1e-12));
  CHECK_THROWS_AS(combine_weighted_loss(ce, std::vector<double>{0.1}, {}), beacon::shape_error);
}

TEST_CASE("T9: distance gradients, through the expected embedding, with softmax shift invariance") {
  double g[2];
  const double u[2] = {1, 0}, v[2] = {1, 1};
  const double d = semantic_distance_gradient(u, v, 2, g);
  CHECK(d == doctest::Approx(1 - 0.707107).epsilon(1e-6));
  CHECK(g[0] == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(g[1] == doctest::Approx(-0.707107).epsilon(1e-6));
  const double zero[2] = {0, 0};
  semantic_distance_gradient(zero, v, 2, g);
  CHECK(g[0] == 0.0);
  CHECK(g[1] == 0.0);
  // Finite differences of d w.r.t. u, for both clamps and the Euclidean mode.
  std::mt19937 gen(1);
  std::normal_distribution<double> n01(0, 1);
  for (distance_options o : {distance_options{}, distance_options{.clamp = cosine_clamp::product},
                             distance_options{.kind = distance_kind::euclidean}}) {
    double a[5], b[5], grad[5];
    for (int j = 0; j < 5; ++j) a[j] = n01(gen), b[j] = n01(gen);
    semantic_distance_gradient(a, b, 5, grad, o);
    for (int j = 0; j < 5; ++j) {
      double ap[5], am[5];
      std::copy(a, a + 5, ap);
      std::copy(a, a + 5, am);
      ap[j] += 1e-6;
      am[j] -= 1e-6;
      CHECK(grad[j] == doctest::Approx((semantic_distance(ap, b, 5, o) - semantic_distance(am, b, 5, o)) / 2e-6).epsilon(1e-6));
    }
  }
  // T3 through EXPECTED: ADDITIVE-only loss with one item of one token is exactly d, so the logit
  // gradient (minus the CE part, switched off with a zero weight) is dd/dz = (0.298306, -0.247593, -0.050713).
  const std::vector<double> e = {1, 0, 0, 1, 1, 1}, z = {2, 1, 0};
  const std::vector<index_type> target = {1};
  const std::vector<std::uint8_t> mask = {1};
  std::vector<double> grad_z(3);
  const reweight_options only_distance{.scheme = weight_scheme::power, .gamma = 1, .w_min = 0, .normalisation = weight_normalisation::mean,
                                       .additive_lambda = 1.0};
  // power weights with d > 0 are d; coefficient d / B multiplies ce's gradient; subtract it below.
  const auto res = semantic_cross_entropy(beacon::cpu{1}, beacon::host_matrix(z.data(), 1, 3), beacon::host_vector(target.data(), 1),
                                          beacon::host_matrix(mask.data(), 1, 1), beacon::host_matrix(e.data(), 3, 2), only_distance,
                                          beacon::host_matrix(grad_z.data(), 1, 3));
  CHECK(res.distance[0] == doctest::Approx(0.594789).epsilon(1e-6));
  const double c = res.combined.coefficients[0];
  const double p[3] = {0.665241, 0.244728, 0.090031};
  const double dd_dz[3] = {grad_z[0] - c * p[0], grad_z[1] - c * (p[1] - 1), grad_z[2] - c * p[2]};
  CHECK(dd_dz[0] == doctest::Approx(0.298306).epsilon(1e-5));
  CHECK(dd_dz[1] == doctest::Approx(-0.247593).epsilon(1e-5));
  CHECK(dd_dz[2] == doctest::Approx(-0.050713).epsilon(1e-4));
  CHECK(dd_dz[0] + dd_dz[1] + dd_dz[2] == doctest::Approx(0.0).epsilon(1e-6));
}

TEST_CASE("semantic cross-entropy: finite-difference gradient w.r.t. the logits (weights detached), per item and per token") {
  const toy t;
  for (auto gran : {loss_granularity::per_item, loss_granularity::per_token})
    for (const reweight_options& o : {reweight_options{}, reweight_options{.scheme = weight_scheme::softmax, .tau = 0.5},
                                      reweight_options{.scheme = weight_scheme::linear, .alpha = 0.5, .additive_lambda = 0.7}}) {
      std::vector<double> grad(t.logits.size());
      const auto base = t.run(o, &grad, gran);
      // Detached weights: perturb the loss with the coefficients frozen at their current values.
      const auto loss_frozen = [&](const std::vector<double>& z) {
        const auto r = t.run(o, nullptr, gran, &z);
        double l = 0, md = 0;
        for (std::size_t i = 0; i < r.ce.size(); ++i) {
          l += base.combined.coefficients[i] * r.ce[i];
          md += r.distance[i] / static_cast<double>(r.ce.size());
        }
        return l + o.additive_lambda * md;
      };
      double worst = 0;
      for (std::size_t k = 0; k < t.logits.size(); ++k) {
        auto zp = t.logits, zm = t.logits;
        zp[k] += 1e-6;
        zm[k] -= 1e-6;
        const double fd = (loss_frozen(zp) - loss_frozen(zm)) / 2e-6;
        worst = std::max(worst, std::abs(fd - grad[k]));
      }
      CHECK(worst < 1e-7);
      // Prompt rows get no gradient; each answer row's gradient sums to 0 (softmax shift invariance).
      for (size_type v = 0; v < t.vocab; ++v) CHECK(grad[static_cast<std::size_t>(v)] == 0.0);
      for (size_type r = 1; r < t.items * t.length; ++r) {
        double s = 0;
        for (size_type v = 0; v < t.vocab; ++v) s += grad[static_cast<std::size_t>(r * t.vocab + v)];
        CHECK(std::abs(s) < 1e-12);
      }
    }
}

TEST_CASE("alpha = 0, tau -> infinity and equal distances reduce to plain cross-entropy") {
  const toy t;
  const double plain = plain_ce(t.logits, t.vocab, t.targets, t.mask, t.length);
  CHECK(t.run({.alpha = 0}, nullptr).combined.loss == doctest::Approx(plain).epsilon(1e-12));
  CHECK(t.run({.scheme = weight_scheme::softmax, .tau = 1e12}, nullptr).combined.loss == doctest::Approx(plain).epsilon(1e-9));
}

TEST_CASE("per-item distances equal the mean of E^T softmax(z) over the item's answer rows, items split across chunks") {
  // The expected-embedding path pools each item's probability rows before the GEMM. With V = 2^19 in
  // double the implementation processes 8 rows per chunk, so item 2 (rows 6-8) straddles two chunks.
  const size_type items = 4, length = 3, vocab = size_type{1} << 19, dim = 4, rows = items * length;
  std::mt19937 gen(11);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> logits(static_cast<std::size_t>(rows * vocab)), emb(static_cast<std::size_t>(vocab * dim));
  for (auto& v : logits) v = 3.0 * g(gen);
  for (auto& v : emb) v = g(gen);
  std::vector<index_type> targets(static_cast<std::size_t>(rows));
  for (size_type r = 0; r < rows; ++r) targets[static_cast<std::size_t>(r)] = static_cast<index_type>((r * 7919) % vocab);
  std::vector<int> mask = {0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 1};  // prompt rows 0, 7, 9, 10
  const auto res = semantic_cross_entropy(beacon::cpu{1}, beacon::host_matrix<const double>(logits.data(), rows, vocab),
                                          beacon::host_vector<const index_type>(targets.data(), rows),
                                          beacon::host_matrix<const int>(mask.data(), items, length),
                                          beacon::host_matrix<const double>(emb.data(), vocab, dim), reweight_options{},
                                          beacon::matrix_view<double>{});
  REQUIRE(res.distance.size() == static_cast<std::size_t>(items));
  for (size_type k = 0; k < items; ++k) {
    // Oracle: per answer row, softmax and E^T p with plain loops; then the means and 1 - cosine.
    std::vector<double> o(static_cast<std::size_t>(dim), 0.0), t(static_cast<std::size_t>(dim), 0.0);
    int m = 0;
    for (size_type l = 0; l < length; ++l) {
      if (!mask[static_cast<std::size_t>(k * length + l)]) continue;
      ++m;
      const double* z = logits.data() + (k * length + l) * vocab;
      double top = z[0], sum = 0;
      for (size_type v = 1; v < vocab; ++v) top = std::max(top, z[v]);
      for (size_type v = 0; v < vocab; ++v) sum += std::exp(z[v] - top);
      for (size_type v = 0; v < vocab; ++v)
        for (size_type j = 0; j < dim; ++j) o[static_cast<std::size_t>(j)] += std::exp(z[v] - top) / sum * emb[static_cast<std::size_t>(v * dim + j)];
      for (size_type j = 0; j < dim; ++j)
        t[static_cast<std::size_t>(j)] += emb[static_cast<std::size_t>(targets[static_cast<std::size_t>(k * length + l)] * dim + j)];
    }
    double ot = 0, oo = 0, tt = 0;
    for (size_type j = 0; j < dim; ++j) {
      const double a = o[static_cast<std::size_t>(j)] / m, b = t[static_cast<std::size_t>(j)] / m;
      ot += a * b, oo += a * a, tt += b * b;
    }
    CAPTURE(k);
    CHECK(res.distance[static_cast<std::size_t>(k)] == doctest::Approx(1.0 - ot / (std::sqrt(oo) * std::sqrt(tt))).epsilon(1e-9));
  }
}

TEST_CASE("a 50 000-word vocabulary in float stays finite") {
  const size_type vocab = 50000, dim = 16, items = 2, length = 2;
  std::vector<float> logits(static_cast<std::size_t>(items * length * vocab)), emb(static_cast<std::size_t>(vocab * dim)), grad(logits.size());
  std::mt19937 gen(5);
  std::normal_distribution<float> n01(0, 1);
  for (auto& v : logits) v = 30.0f * n01(gen);  // large logits: exp would overflow without max subtraction
  for (auto& v : emb) v = n01(gen);
  const std::vector<index_type> targets = {7, 49999, 0, 123};
  const std::vector<std::uint8_t> mask = {1, 1, 0, 1};
  const auto r = semantic_cross_entropy(beacon::cpu{2}, beacon::host_matrix<const float>(logits.data(), items * length, vocab),
                                        beacon::host_vector(targets.data(), 4), beacon::host_matrix(mask.data(), items, length),
                                        beacon::host_matrix<const float>(emb.data(), vocab, dim), {}, beacon::host_matrix(grad.data(), 4, vocab));
  CHECK(std::isfinite(r.combined.loss));
  CHECK(r.combined.loss > 0);
  int bad = 0;
  for (float g : grad) bad += !std::isfinite(g);
  CHECK(bad == 0);
}

TEST_CASE("semantic cross-entropy rejects NaN/Inf logits, bad target ids, mismatched shapes and empty answer masks") {
  toy t;
  t.logits[static_cast<std::size_t>(5 * t.vocab + 2)] = NAN;
  CHECK_THROWS_WITH_AS(t.run({}, nullptr), "beacon::semantic_cross_entropy: argument 'logits' expected finite values on answer rows, got a NaN or Inf in row 5",
                       beacon::value_error);
  t = toy();
  t.logits[2] = INFINITY;  // a prompt row: ignored
  CHECK_NOTHROW(t.run({}, nullptr));
  t = toy();
  t.targets[1] = 7;
  CHECK_THROWS_WITH_AS(t.run({}, nullptr), "beacon::semantic_cross_entropy: argument 'targets' expected token ids in [0, 7), got 7 at row 1",
                       beacon::value_error);
  t = toy();
  t.mask = {0, 1, 1, 0, 0, 0, 1, 1, 1};
  CHECK_THROWS_WITH_AS(t.run({}, nullptr), "beacon::semantic_cross_entropy: argument 'answer_mask' expected at least one answer token per item, got an empty row 1",
                       beacon::value_error);
  t = toy();
  std::vector<double> grad(5);
  CHECK_THROWS_AS(semantic_cross_entropy(beacon::cpu{1}, beacon::host_matrix(t.logits.data(), 9, 7), beacon::host_vector(t.targets.data(), 9),
                                         beacon::host_matrix(t.mask.data(), 3, 3), beacon::host_matrix(t.embedding.data(), 6, 4), {},
                                         beacon::host_matrix<double>(nullptr, 0, 7)),
                  beacon::shape_error);
  CHECK_THROWS_AS(semantic_cross_entropy(beacon::cpu{1}, beacon::host_matrix(t.logits.data(), 9, 7), beacon::host_vector(t.targets.data(), 8),
                                         beacon::host_matrix(t.mask.data(), 3, 3), beacon::host_matrix(t.embedding.data(), 7, 4), {},
                                         beacon::host_matrix<double>(nullptr, 0, 7)),
                  beacon::shape_error);
}
