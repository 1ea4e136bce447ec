// SPDX-License-Identifier: Apache-2.0
// Partial noising followed by a DDIM loop with an oracle denoiser (it returns the true x0): with
// eta = 0 every step stays on the forward process's path and the last step returns x0 exactly.
#include <beacon/beacon.hpp>
#include <beacon/diffusion.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  using namespace beacon::diffusion;
  const beacon::cpu be{};
  const beacon::size_type batch = 2, length = 8, dim = 32, vocab = 100, steps = 2000, gap = 20;

  // Embeddings and token ids; the first 3 positions of each example are source (never noised).
  std::vector<float> embedding(static_cast<std::size_t>(vocab * dim));
  beacon::fill_normal(be, beacon::philox_stream{1, 0}, beacon::host_matrix(embedding.data(), vocab, dim));
  std::vector<beacon::index_type> ids(static_cast<std::size_t>(batch * length));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<beacon::index_type>((7 * i + 3) % vocab);
  std::vector<std::uint8_t> mask(ids.size());
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = (i % length) >= 3;

  const schedule_tables schedule = make_schedule(schedule_kind::sqrt, steps);
  const beacon::size_type rows = batch * length;
  std::vector<float> x0(static_cast<std::size_t>(rows * dim)), x(x0.size());
  embed_with_jitter(be, beacon::host_matrix<const float>(embedding.data(), vocab, dim), beacon::host_vector<const beacon::index_type>(ids.data(), rows),
                    static_cast<float>(schedule.sqrt_one_minus_alphas_cumprod[0]), beacon::philox_stream{2, 0},
                    beacon::host_matrix(x0.data(), rows, dim));

  // Noise every example to the last step.
  const std::vector<beacon::index_type> t(static_cast<std::size_t>(batch), static_cast<beacon::index_type>(steps - 1));
  const auto coef = token_noising_coefficients<float>(schedule, t, beacon::host_matrix<const std::uint8_t>(mask.data(), batch, length));
  q_sample(be, beacon::host_vector<const float>(coef.signal.data(), rows), beacon::host_matrix<const float>(x0.data(), rows, dim),
           beacon::host_vector<const float>(coef.noise.data(), rows), beacon::philox_stream{3, 0}, beacon::host_matrix(x.data(), rows, dim));

  auto distance = [&] {
    double d = 0;
    for (std::size_t i = 0; i < x.size(); ++i) d += (x[i] - x0[i]) * (x[i] - x0[i]);
    return std::sqrt(d / static_cast<double>(x.size()));
  };
  std::printf("DDIM, T = %lld, gap = %lld, oracle denoiser\nafter noising: rms |x - x0| = %.4f\n", static_cast<long long>(steps),
              static_cast<long long>(gap), distance());
  const auto ks = ddim_timesteps(steps, gap);
  for (std::size_t n = 0; n < ks.size(); ++n) {
    const beacon::size_type k = ks[n];
    reverse_step_rows<float> r;
    for (beacon::size_type i = 0; i < rows; ++i)
      r.push(mask[static_cast<std::size_t>(i)] ? ddim_coefficients(schedule, k, gap) : reverse_coefficients{1, 0, 0});
    reverse_step(be, beacon::host_vector<const float>(r.a.data(), rows), beacon::host_matrix<const float>(x0.data(), rows, dim),
                 beacon::host_vector<const float>(r.b.data(), rows), beacon::host_matrix<const float>(x.data(), rows, dim),
                 beacon::host_vector<const float>(r.c.data(), rows), beacon::philox_stream{4, 0}, beacon::host_matrix(x.data(), rows, dim));
    if (n % 25 == 0 || n + 1 == ks.size())
      std::printf("step %3zu (k = %4lld): rms |x - x0| = %.6f\n", n, static_cast<long long>(k), distance());
  }
  const bool exact = distance() == 0.0;
  std::printf("%s\n", exact ? "recovered x0 exactly" : "did NOT recover x0 exactly");
  return exact ? 0 : 1;
}
