// SPDX-License-Identifier: Apache-2.0
// The layers of edit-bench's contextual host (examples/cli/hosts/): layer norm and ragged multi-head
// self-attention, forward against hand identities and backward against central finite differences
// (double precision, cpu backend).
#include <doctest/doctest.h>

#include "../support/random_matrix.hpp"

#include <beacon/backend/cpu.hpp>

#include "cli/hosts/attention.hpp"
#include "cli/hosts/transformer_encoder.hpp"
#include "cli/hosts/layer_norm.hpp"

#include <cmath>
#include <functional>
#include <vector>

using beacon::index_type;
using beacon::size_type;
using dmat = beacon::row_matrix<double>;
using dvec = std::vector<double>;

namespace {

beacon::vector_view<double> vv(dvec& v) { return {v.data(), static_cast<size_type>(v.size())}; }
beacon::vector_view<const double> cvv(const dvec& v) { return {v.data(), static_cast<size_type>(v.size())}; }
beacon::matrix_view<const double> cm(const dmat& m) { return beacon::as_view(m); }

/// Central difference of f with respect to every element of `p` (f reads p).
dmat numeric_gradient(double* p, size_type rows, size_type cols, const std::function<double()>& f) {
  dmat g(rows, cols);
  const double h = 1e-6;
  for (size_type i = 0; i < rows * cols; ++i) {
    const double keep = p[i];
    p[i] = keep + h;
    const double up = f();
    p[i] = keep - h;
    const double down = f();
    p[i] = keep;
    g(i / cols, i % cols) = (up - down) / (2 * h);
  }
  return g;
}

void check_close(const dmat& analytic, const dmat& numeric, double tol = 1e-6) {
  REQUIRE(analytic.rows() == numeric.rows());
  REQUIRE(analytic.cols() == numeric.cols());
  CHECK((analytic - numeric).cwiseAbs().maxCoeff() < tol * (1 + numeric.cwiseAbs().maxCoeff()));
}

}  // namespace

TEST_CASE("hosts::layer_norm: rows have mean beta and spread gamma, and the backward matches finite differences") {
  const beacon::cpu be{1};
  const size_type n = 5, d = 6;
  dmat x = beacon_test::random_matrix(n, d, 1) * 3.0;
  dmat gamma = beacon_test::random_matrix(1, d, 2), beta = beacon_test::random_matrix(1, d, 3);
  const dmat w = beacon_test::random_matrix(n, d, 4);  // loss = sum(w * y): dy = w
  dmat y(n, d);
  dvec mean(n), rstd(n);
  auto forward = [&] {
    beacon::hosts::layer_norm_forward(be, cm(x), beacon::vector_view<const double>(gamma.data(), d), beacon::vector_view<const double>(beta.data(), d), 1e-5,
                                      beacon::as_view(y), vv(mean), vv(rstd));
    return (w.array() * y.array()).sum();
  };
  forward();
  // With gamma = 1, beta = 0 every row has mean 0 and (biased) variance var / (var + eps).
  {
    dmat ones = dmat::Ones(1, d), zeros = dmat::Zero(1, d), y1(n, d);
    beacon::hosts::layer_norm_forward(be, cm(x), beacon::vector_view<const double>(ones.data(), d), beacon::vector_view<const double>(zeros.data(), d), 1e-5,
                                      beacon::as_view(y1), vv(mean), vv(rstd));
    for (size_type r = 0; r < n; ++r) {
      const double m = x.row(r).mean(), var = (x.row(r).array() - m).square().mean();
      CHECK(y1.row(r).mean() == doctest::Approx(0).epsilon(1e-12));
      CHECK(y1.row(r).array().square().mean() == doctest::Approx(var / (var + 1e-5)).epsilon(1e-12));
      CHECK(mean[static_cast<std::size_t>(r)] == doctest::Approx(m));
    }
  }
  forward();
  dmat dx(n, d), scratch(n, d);
  dmat dgamma = dmat::Zero(1, d), dbeta = dmat::Zero(1, d);
  beacon::hosts::layer_norm_backward(be, cm(x), beacon::vector_view<const double>(gamma.data(), d), cvv(mean), cvv(rstd), cm(w), beacon::as_view(dx),
                                     beacon::as_view(scratch), beacon::vector_view<double>(dgamma.data(), d), beacon::vector_view<double>(dbeta.data(), d));
  check_close(dx, numeric_gradient(x.data(), n, d, forward));
  check_close(dgamma, numeric_gradient(gamma.data(), 1, d, forward));
  check_close(dbeta, numeric_gradient(beta.data(), 1, d, forward));
  // Without the scratch only dx is computed.
  dmat dx2(n, d);
  beacon::hosts::layer_norm_backward(be, cm(x), beacon::vector_view<const double>(gamma.data(), d), cvv(mean), cvv(rstd), cm(w), beacon::as_view(dx2));
  CHECK(dx2 == dx);
  CHECK_THROWS_AS(beacon::hosts::layer_norm_forward(be, cm(x), beacon::vector_view<const double>(gamma.data(), d - 1),
                                                    beacon::vector_view<const double>(beta.data(), d), 1e-5, beacon::as_view(y), vv(mean), vv(rstd)),
                  beacon::shape_error);
  CHECK_THROWS_AS(beacon::hosts::layer_norm_forward(be, cm(x), beacon::vector_view<const double>(gamma.data(), d),
                                                    beacon::vector_view<const double>(beta.data(), d), 0.0, beacon::as_view(y), vv(mean), vv(rstd)),
                  beacon::value_error);
}

TEST_CASE("hosts::attention: one token attends to itself only, sequences do not mix, and the backward matches finite differences") {
  const beacon::cpu be{1};
  const size_type d = 4, heads = 2;
  const std::vector<index_type> offsets = {0, 3, 4, 8};  // lengths 3, 1, 4
  const size_type n = 8;
  dmat x = beacon_test::random_matrix(n, d, 5);
  dmat wq = beacon_test::random_matrix(d, d, 6), wk = beacon_test::random_matrix(d, d, 7), wv = beacon_test::random_matrix(d, d, 8),
       wo = beacon_test::random_matrix(d, d, 9);
  const dmat w = beacon_test::random_matrix(n, d, 10);  // loss = sum(w * y)
  dmat q(n, d), k(n, d), v(n, d), o(n, d), y(n, d);
  dvec probs(static_cast<std::size_t>(beacon::hosts::attention_probs_size(offsets, heads)));
  CHECK(probs.size() == (9 + 1 + 16) * 2);
  auto cache = [&] { return beacon::hosts::attention_cache<double, beacon::host_space>{beacon::as_view(q), beacon::as_view(k), beacon::as_view(v), beacon::as_view(o), vv(probs)}; };
  auto weights = [&] { return beacon::hosts::attention_weights<double, beacon::host_space>{cm(wq), cm(wk), cm(wv), cm(wo)}; };
  auto forward = [&] {
    beacon::hosts::attention_forward(be, cm(x), offsets, heads, weights(), cache(), beacon::as_view(y));
    return (w.array() * y.array()).sum();
  };
  forward();
  // Sequence 1 is one token: its attention weight is 1, so y = x Wv^T Wo^T.
  const dmat single = x.row(3) * wv.transpose() * wo.transpose();
  CHECK((y.row(3) - single).cwiseAbs().maxCoeff() < 1e-12);
  // Changing sequence 2 leaves sequence 0 unchanged.
  const dmat y0 = y.topRows(3);
  x.row(6) *= 2.0;
  forward();
  CHECK((y.topRows(3) - y0).cwiseAbs().maxCoeff() == 0.0);
  x.row(6) /= 2.0;

  forward();
  dmat dx(n, d);
  dmat gq = dmat::Zero(d, d), gk = dmat::Zero(d, d), gv = dmat::Zero(d, d), go = dmat::Zero(d, d);
  dvec scratch(static_cast<std::size_t>(beacon::hosts::attention_backward_scratch_size(offsets, d)));
  beacon::hosts::attention_backward(be, cm(x), offsets, heads, weights(), cache(), cm(w),
                                    {beacon::as_view(gq), beacon::as_view(gk), beacon::as_view(gv), beacon::as_view(go)}, beacon::as_view(dx), vv(scratch));
  check_close(dx, numeric_gradient(x.data(), n, d, forward));
  check_close(gq, numeric_gradient(wq.data(), d, d, forward));
  check_close(gk, numeric_gradient(wk.data(), d, d, forward));
  check_close(gv, numeric_gradient(wv.data(), d, d, forward));
  check_close(go, numeric_gradient(wo.data(), d, d, forward));

  CHECK_THROWS_WITH_AS(beacon::hosts::attention_forward(be, cm(x), offsets, 3, weights(), cache(), beacon::as_view(y)), doctest::Contains("heads"),
                       beacon::value_error);
  CHECK_THROWS_WITH_AS(beacon::hosts::attention_forward(be, cm(x), std::vector<index_type>{0, 5, 4, 8}, heads, weights(), cache(), beacon::as_view(y)),
                       doctest::Contains("offsets"), beacon::value_error);
  CHECK_THROWS_WITH_AS(beacon::hosts::attention_forward(be, cm(x), std::vector<index_type>{0, 3, 7}, heads, weights(), cache(), beacon::as_view(y)),
                       doctest::Contains("offsets"), beacon::value_error);
}

TEST_CASE("hosts::transformer: the whole encoder's training-loss gradient matches finite differences (float, every weight away from ReLU kinks)") {
  namespace tf = beacon::cli::edit_bench::transformer;
  beacon::cli::edit_bench::compute_threads = 1;
  tf::transformer_model m = tf::make_model(/*V*/ 7, /*A*/ 5, /*max_len*/ 4, /*d*/ 4, /*heads*/ 2, /*layers*/ 2, /*ffn*/ 8, /*seed*/ 3);
  const beacon::cli::edit_bench::token_lists toks = {{1, 2, 3}, {4}, {5, 6}};
  const tf::token_batch tb = tf::batch_of(toks, {0, 1, 2}, 0);
  CHECK(tb.offsets == std::vector<index_type>{0, 4, 6, 9});
  CHECK(tb.cls == std::vector<index_type>{0, 4, 6});
  const std::vector<index_type> y = {1, 4, 2};
  beacon::cli::edit_bench::zero_grads(m.params());
  tf::training_loss(m, tb, y, true);
  std::size_t checked = 0, bad = 0, kinks = 0;
  for (auto* p : m.params()) {
    auto v = p->value();
    const auto g = p->grad();
    for (size_type i = 0; i < v.rows(); ++i)
      for (size_type j = 0; j < v.cols(); ++j) {
        const float keep = v(i, j), h = 2e-3f;
        v(i, j) = keep + h;
        const double up = tf::training_loss(m, tb, y, false);
        v(i, j) = keep - h;
        const double down = tf::training_loss(m, tb, y, false);
        v(i, j) = keep;
        const double mid = tf::training_loss(m, tb, y, false), hd = static_cast<double>(h);
        const double numeric = (up - down) / (2.0 * hd), analytic = g(i, j);
        // A ReLU kink within h: the one-sided slopes disagree and the central difference is no
        // reference there; such entries are counted and must stay rare.
        if (std::abs((up - mid) / hd - (mid - down) / hd) > 1e-3 + 0.1 * std::abs(numeric)) {
          ++kinks;
          continue;
        }
        ++checked;
        if (std::abs(analytic - numeric) > 5e-4 + 2e-2 * std::abs(numeric)) {
          ++bad;
          MESSAGE(p->name(), "(", i, ", ", j, "): analytic ", analytic, ", numeric ", numeric);
        }
      }
  }
  CHECK(checked > 370);  // of 384 weights
  CHECK(kinks <= 8);
  CHECK(bad == 0);
}
