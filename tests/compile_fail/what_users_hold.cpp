// SPDX-License-Identifier: Apache-2.0
// Built with BEACON_COMPILE_FAIL it must NOT compile, and the compiler's output must carry every
// entry point's static_assert message below, each saying what was passed and what is accepted
// (tests/compile_fail/expect_messages.cmake checks them all from one build). Without it the file
// is the control: the accepted spellings of the same calls, built and run normally as a doctest case.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>

#include <cstdint>
#include <utility>
#include <vector>

using beacon::row_matrix;
namespace diffusion = beacon::diffusion;

namespace {
const beacon::cpu be{1};
const diffusion::schedule_tables schedule = diffusion::make_schedule(diffusion::schedule_kind::sqrt, 10);
const std::vector<std::int64_t> t64 = {1, 2};
const std::vector<std::uint8_t> mask = {1, 1, 0, 1};
const row_matrix<float> x0 = row_matrix<float>::Zero(4, 3);

#ifdef BEACON_COMPILE_FAIL
void int64_timesteps() {  // as PyTorch hands them over
  (void)diffusion::token_noising_coefficients<float>(schedule, t64, beacon::matrix_of(mask, 2, 2));
}
void bool_mask() {
  const Eigen::Matrix<bool, 2, 2, Eigen::RowMajor> m = Eigen::Matrix<bool, 2, 2, Eigen::RowMajor>::Ones();
  (void)diffusion::token_noising_coefficients<float>(schedule, beacon::to_timesteps(t64), m);
}
void float_information() {
  const diffusion::info_schedule info(10);
  const row_matrix<float> e = row_matrix<float>::Zero(2, 2);
  (void)diffusion::token_noising_coefficients<float>(info, beacon::to_timesteps(t64), e, beacon::matrix_of(mask, 2, 2));
}
void double_coefficients() {
  const std::vector<double> signal(4, 1.0), noise(4, 0.0);
  row_matrix<float> xt(4, 3);
  diffusion::q_sample(be, signal, x0, noise, beacon::philox_stream{1, 0}, xt);
}
void double_x0() {
  const std::vector<float> signal(4, 1.0f), noise(4, 0.0f);
  const row_matrix<double> x0d = row_matrix<double>::Zero(4, 3);
  row_matrix<float> xt(4, 3);
  diffusion::q_sample(be, signal, x0d, noise, beacon::philox_stream{1, 0}, xt);
}
void double_reverse_coefficients() {
  const std::vector<double> a(4, 1.0), b(4, 0.0), c(4, 0.0);
  row_matrix<float> out(4, 3);
  diffusion::reverse_step(be, a, x0, b, x0, c, beacon::philox_stream{1, 0}, out);
}
void double_embedding_table() {  // float logits with a double table
  const row_matrix<float> logits = row_matrix<float>::Zero(4, 5), answer_mask = row_matrix<float>::Ones(2, 2);
  const row_matrix<double> table = row_matrix<double>::Zero(5, 3);
  const std::vector<beacon::index_type> targets = {0, 1, 2, 3};
  (void)beacon::semantic::semantic_cross_entropy(be, logits, targets, answer_mask, table, {});
}
void int64_targets() {
  const row_matrix<float> logits = row_matrix<float>::Zero(4, 5), answer_mask = row_matrix<float>::Ones(2, 2), table = row_matrix<float>::Zero(5, 3);
  const std::vector<std::int64_t> targets = {0, 1, 2, 3};
  (void)beacon::semantic::semantic_cross_entropy(be, logits, targets, answer_mask, table, {});
}
void column_major() {
  const Eigen::MatrixXf m = Eigen::MatrixXf::Zero(3, 3);
  (void)beacon::matrix_of(m);
}
#endif
}  // namespace

// The control checks what the accepted spellings compute: the same values as the view calls.
TEST_CASE("what users hold: vectors, int64 timesteps and Eigen matrices give the view calls' values") {
  const std::vector<beacon::index_type> t = beacon::to_timesteps(t64);
  CHECK(t == std::vector<beacon::index_type>{1, 2});  // to_timesteps keeps the values
  const auto c = diffusion::token_noising_coefficients<float>(schedule, t, beacon::matrix_of(mask, 2, 2));
  // The coefficients read the schedule at each example's t; a source token (mask 0) keeps (1, 0).
  CHECK(c.signal[0] == static_cast<float>(schedule.sqrt_alphas_cumprod[1]));
  CHECK(c.noise[3] == static_cast<float>(schedule.sqrt_one_minus_alphas_cumprod[2]));
  CHECK(c.signal[2] == 1.0f);
  CHECK(c.noise[2] == 0.0f);

  row_matrix<float> xt(4, 3), xt_view(4, 3), out(4, 3), out_view(4, 3);
  diffusion::q_sample(be, c.signal, x0, c.noise, beacon::philox_stream{1, 0}, xt);
  diffusion::q_sample(be, beacon::vector_of(c.signal), beacon::as_view(x0), beacon::vector_of(c.noise), beacon::philox_stream{1, 0},
                      beacon::as_view(xt_view));
  CHECK(xt == xt_view);  // q_sample with std::vector and Eigen arguments
  diffusion::reverse_step(be, c.signal, x0, c.noise, xt, c.noise, beacon::philox_stream{2, 0}, out);
  diffusion::reverse_step(be, beacon::vector_of(c.signal), beacon::as_view(x0), beacon::vector_of(c.noise), beacon::as_view(std::as_const(xt)),
                          beacon::vector_of(c.noise), beacon::philox_stream{2, 0}, beacon::as_view(out_view));
  CHECK(out == out_view);  // reverse_step with std::vector and Eigen arguments

  const row_matrix<float> logits = row_matrix<float>::Random(4, 5), answer_mask = row_matrix<float>::Ones(2, 2), table = row_matrix<float>::Random(5, 3);
  const std::vector<beacon::index_type> targets = {0, 1, 2, 3};
  row_matrix<float> grad(4, 5);
  const auto loss = beacon::semantic::semantic_cross_entropy(be, logits, targets, answer_mask, table, {});
  const auto with_grad = beacon::semantic::semantic_cross_entropy(be, beacon::as_view(logits), beacon::vector_of(targets), beacon::as_view(answer_mask),
                                                                  beacon::as_view(table), {}, beacon::as_view(grad));
  CHECK(loss.combined.loss == with_grad.combined.loss);  // the loss alone equals the loss of the call with a gradient
  CHECK(loss.combined.loss > 0);
}
