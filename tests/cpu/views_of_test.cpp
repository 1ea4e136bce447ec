// SPDX-License-Identifier: Apache-2.0
// Entry points take what users hold (std::vector, std::array, std::span, Eigen vectors and
// matrices, views) without copies, and give the same results as the view calls; type changes go
// through named helpers (to_timesteps, to_mask, cast_elements). The compile-time refusals are
// tested in tests/compile_fail/what_users_hold.cpp.
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>
#include <beacon/diffusion.hpp>
#include <beacon/moe.hpp>
#include <beacon/semantic.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <vector>

using beacon::index_type;
using beacon::row_matrix;
using beacon::size_type;

TEST_CASE("vector_of and matrix_of view the caller's memory: same address, no copy, constness kept") {
  std::vector<float> v = {1, 2, 3};
  const std::vector<float>& cv = v;
  std::array<double, 4> a = {1, 2, 3, 4};
  Eigen::VectorXf ev = Eigen::VectorXf::LinSpaced(5, 0, 4);
  auto vv = beacon::vector_of(v);
  static_assert(std::is_same_v<decltype(vv), beacon::vector_view<float>>);
  static_assert(std::is_same_v<decltype(beacon::vector_of(cv)), beacon::vector_view<const float>>);
  CHECK(vv.data() == v.data());
  CHECK(vv.size() == 3);
  CHECK(beacon::vector_of(a).data() == a.data());
  CHECK(beacon::vector_of(std::span<const double>(a)).size() == 4);
  CHECK(beacon::vector_of(ev).data() == ev.data());
  vv[1] = 7;  // writes through
  CHECK(v[1] == 7);

  row_matrix<float> m = row_matrix<float>::Random(4, 6);
  const auto mv = beacon::matrix_of(m);
  CHECK(mv.data() == m.data());
  CHECK((mv.rows() == 4 && mv.cols() == 6 && mv.ld() == 6));
  const auto block = beacon::matrix_of(m.block(1, 2, 2, 3));  // a block keeps the parent's stride
  CHECK(block.ld() == 6);
  CHECK(block(1, 2) == m(2, 4));
  const auto shaped = beacon::matrix_of(v, 1, 3);
  CHECK(shaped.data() == v.data());
  CHECK_THROWS_AS(beacon::matrix_of(v, 2, 2), beacon::shape_error);
  // A strided Eigen vector (a column of a row-major matrix) is not contiguous: refused at run time.
  CHECK_THROWS_WITH_AS(beacon::vector_of(m.col(0)), doctest::Contains("innerStride"), beacon::shape_error);
}

TEST_CASE("to_timesteps, to_mask and cast_elements: the named conversions, range-checked") {
  const std::vector<std::int64_t> t64 = {0, 5, 1999};
  CHECK(beacon::to_timesteps(t64) == std::vector<index_type>{0, 5, 1999});
  const std::vector<std::size_t> tsz = {3, 4};
  CHECK(beacon::to_timesteps(tsz) == std::vector<index_type>{3, 4});
  const std::vector<std::int64_t> too_big = {1, 4'000'000'000LL};
  CHECK_THROWS_WITH_AS(beacon::to_timesteps(too_big), doctest::Contains("4000000000 at position 1"), beacon::value_error);
  const std::vector<bool> keep = {true, false, true};
  CHECK(beacon::to_mask(keep) == std::vector<std::uint8_t>{1, 0, 1});
  const std::vector<double> d = {0.5, -1.25};
  CHECK(beacon::cast_elements<float>(d) == std::vector<float>{0.5f, -1.25f});
}

TEST_CASE("noising and reverse steps accept std::vector, std::span and Eigen arguments, bit-identical to the view calls") {
  using namespace beacon::diffusion;
  const schedule_tables s = make_schedule(schedule_kind::sqrt, 100);
  const std::vector<std::int64_t> t_from_a_trainer = {3, 50, 99};
  const std::vector<index_type> t = beacon::to_timesteps(t_from_a_trainer);
  Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> mask(3, 2);
  mask << 0, 1, 1, 1, 1, 0;
  const auto by_views = token_noising_coefficients<float>(s, std::span<const index_type>(t), beacon::matrix_view<const std::uint8_t>(mask.data(), 3, 2));
  const auto by_user = token_noising_coefficients<float>(s, t, mask);
  CHECK(by_views.signal == by_user.signal);
  CHECK(by_views.noise == by_user.noise);
  const std::vector<bool> bool_mask = {false, true, true, true, true, false};
  const auto converted = beacon::to_mask(bool_mask);
  CHECK(token_noising_coefficients<float>(s, t, beacon::matrix_of(converted, 3, 2)).signal == by_user.signal);

  const beacon::cpu be{2};
  const row_matrix<float> x0 = row_matrix<float>::Random(6, 5);
  row_matrix<float> a(6, 5), b(6, 5);
  const beacon::philox_stream noise{11, 0};
  q_sample(be, beacon::vector_of(by_user.signal), beacon::as_view(x0), beacon::vector_of(by_user.noise), noise, beacon::as_view(b));
  q_sample(be, by_user.signal, x0, by_user.noise, noise, a);  // std::vector and Eigen, as held
  CHECK(a == b);

  reverse_step_rows<float> rows;
  for (size_type r = 0; r < 6; ++r) rows.push(ddpm_coefficients(s, 10 + r));
  row_matrix<float> out_user(6, 5), out_view(6, 5);
  reverse_step(be, rows.a, x0, rows.b, a, rows.c, noise, out_user);
  reverse_step(be, beacon::vector_of(rows.a), beacon::as_view(x0), beacon::vector_of(rows.b), beacon::as_view(std::as_const(a)), beacon::vector_of(rows.c),
               noise, beacon::as_view(out_view));
  CHECK(out_user == out_view);
}

TEST_CASE("semantic cross-entropy: the loss alone without a dummy gradient view, and Eigen arguments as held") {
  using namespace beacon::semantic;
  const size_type items = 2, length = 3, vocab = 5, dim = 4;
  const row_matrix<double> logits = row_matrix<double>::Random(items * length, vocab);
  const row_matrix<double> table = row_matrix<double>::Random(vocab, dim);
  const std::vector<index_type> targets = {1, 2, 3, 4, 0, 1};
  const row_matrix<double> mask = (row_matrix<double>(items, length) << 0, 1, 1, 1, 1, 0).finished();
  const reweight_options o{};
  const beacon::cpu be{1};
  row_matrix<double> g_view(items * length, vocab), g_user(items * length, vocab);
  const auto with_views = semantic_cross_entropy(be, beacon::as_view(logits), beacon::vector_of(targets), beacon::as_view(mask), beacon::as_view(table), o,
                                                 beacon::as_view(g_view));
  const auto loss_only = semantic_cross_entropy(be, logits, targets, mask, table, o);  // no gradient asked for, none computed
  const auto with_grad = semantic_cross_entropy(be, logits, targets, mask, table, o, g_user);
  CHECK(loss_only.combined.loss == with_views.combined.loss);
  CHECK(loss_only.distance == with_views.distance);
  CHECK(with_grad.combined.loss == with_views.combined.loss);
  CHECK(g_user == g_view);
}

namespace {
float first_of(beacon::matrix_view<const float> m) { return m(0, 0); }
double sum_of(beacon::vector_view<const double> v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}
}  // namespace

TEST_CASE("a function taking views accepts Eigen matrices and contiguous containers as they are (lvalues, no copy)") {
  row_matrix<float> m = row_matrix<float>::Constant(2, 3, 4.5f);
  CHECK(first_of(m) == 4.5f);
  CHECK(first_of(m.block(1, 1, 1, 2)) == 4.5f);
  const std::vector<double> v = {1, 2, 3.5};
  CHECK(sum_of(v) == 6.5);
  const std::array<double, 2> a2 = {1, 2};
  CHECK(sum_of(a2) == 3.0);
  static_assert(!std::is_convertible_v<std::vector<double>&&, beacon::vector_view<const double>>);  // a temporary would dangle
  static_assert(!std::is_convertible_v<row_matrix<float>&&, beacon::matrix_view<const float>>);
  static_assert(std::is_convertible_v<std::span<const double>&&, beacon::vector_view<const double>>);  // a span borrows
  Eigen::VectorXd ev = Eigen::VectorXd::Ones(4);
  CHECK(sum_of(ev) == 4.0);
  // The adaptor's members take views: Eigen arguments work directly, with the same result.
  namespace moe = beacon::moe;
  using adaptor = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, beacon::cpu>;
  const beacon::cpu be{1};
  adaptor a(be, {.d_model = 8, .expert_hidden = 16, .router_rank = 4});
  const row_matrix<float> e = row_matrix<float>::Random(2, 8), x = row_matrix<float>::Random(6, 8);
  a.insert_expert(moe::expert_init<float>::random_normal(1, 0.1), e);
  row_matrix<float> out_eigen(6, 8), out_view(6, 8);
  a.forward(x, e, out_eigen);
  a.forward(beacon::as_view(x), beacon::as_view(e), beacon::as_view(out_view));
  CHECK(out_eigen == out_view);
  CHECK(a.route_top1(e) == a.route_top1(beacon::as_view(e)));
}
