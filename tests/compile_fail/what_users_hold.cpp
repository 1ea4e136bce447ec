// SPDX-License-Identifier: Apache-2.0
// Each BEACON_CASE must NOT compile, and its error must carry the entry point's static_assert
// message saying what was passed and what is accepted (ctest matches the message). Without
// BEACON_CASE the file is the control: the accepted spellings of the same calls, built normally.
#include <beacon/beacon.hpp>

#include <cstdint>
#include <vector>

using beacon::row_matrix;

int main() {
  using namespace beacon::diffusion;
  const beacon::cpu be{1};
  const schedule_tables s = make_schedule(schedule_kind::sqrt, 10);
  const std::vector<std::int64_t> t64 = {1, 2};
  const std::vector<std::uint8_t> mask = {1, 1, 0, 1};
  const row_matrix<float> x0 = row_matrix<float>::Zero(4, 3);
  row_matrix<float> xt(4, 3);
  const row_matrix<float> logits = row_matrix<float>::Zero(4, 5);
  const std::vector<beacon::index_type> targets = {0, 1, 2, 3};
  const row_matrix<float> answer_mask = row_matrix<float>::Ones(2, 2);
#if BEACON_CASE == 1  // int64 timesteps, as PyTorch hands them over
  const auto c = token_noising_coefficients<float>(s, t64, beacon::matrix_of(mask, 2, 2));
#elif BEACON_CASE == 2  // a bool mask
  const Eigen::Matrix<bool, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> bool_mask = Eigen::Matrix<bool, 2, 2, Eigen::RowMajor>::Ones();
  const auto c = token_noising_coefficients<float>(s, beacon::to_timesteps(t64), bool_mask);
#else
  const auto c = token_noising_coefficients<float>(s, beacon::to_timesteps(t64), beacon::matrix_of(mask, 2, 2));
#endif
#if BEACON_CASE == 3  // double coefficients for a float tensor
  const std::vector<double> signal(4, 1.0), noise(4, 0.0);
  q_sample(be, signal, x0, noise, beacon::philox_stream{1, 0}, xt);
#else
  q_sample(be, c.signal, x0, c.noise, beacon::philox_stream{1, 0}, xt);
#endif
#if BEACON_CASE == 4  // float logits with a double embedding table
  const row_matrix<double> table = row_matrix<double>::Zero(5, 3);
#else
  const row_matrix<float> table = row_matrix<float>::Zero(5, 3);
#endif
  const auto loss = beacon::semantic::semantic_cross_entropy(be, logits, targets, answer_mask, table, {});
#if BEACON_CASE == 5  // a column-major Eigen matrix
  const Eigen::MatrixXf column_major = Eigen::MatrixXf::Zero(3, 3);
  const auto view = beacon::matrix_of(column_major);
  return static_cast<int>(view.rows());
#endif
  return loss.combined.loss >= 0 && xt.rows() == 4 ? 0 : 1;
}
