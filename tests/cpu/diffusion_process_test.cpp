// SPDX-License-Identifier: Apache-2.0
// InfoDiffusion process on the CPU backend: partial noising, x0 jitter, reverse steps with an oracle
// denoiser, re-anchoring, rounding against brute force, self-conditioning, losses, timestep samplers.
#include <doctest/doctest.h>

#include <beacon/beacon.hpp>
#include <beacon/diffusion.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using namespace beacon::diffusion;
using beacon::index_type;
using beacon::size_type;

namespace {
std::vector<float> random_matrix(size_type rows, size_type cols, unsigned seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (auto& v : x) v = dist(gen);
  return x;
}
}  // namespace

TEST_CASE("partial noising: target rows get sqrt(ab) x0 + sqrt(1-ab) eps, source rows stay x0 exactly") {
  const schedule_tables s = make_schedule(schedule_kind::sqrt, 2000);
  const std::vector<index_type> t = {0, 999, 1999};
  const std::vector<std::uint8_t> mask = {0, 1, 1, 1,  //
                                          1, 0, 1, 1,  //
                                          0, 0, 1, 1};
  const auto coef = token_noising_coefficients<float>(s, t, beacon::host_matrix(mask.data(), 3, 4));
  CHECK(coef.signal[0] == 1.0f);
  CHECK(coef.noise[0] == 0.0f);
  CHECK(coef.signal[1] == static_cast<float>(s.sqrt_alphas_cumprod[0]));
  CHECK(coef.noise[6] == static_cast<float>(s.sqrt_one_minus_alphas_cumprod[999]));
  CHECK(coef.signal[11] == static_cast<float>(s.sqrt_alphas_cumprod[1999]));

  const size_type dim = 8;
  const auto x0 = random_matrix(12, dim, 1);
  std::vector<float> xt(x0.size());
  const beacon::philox_stream noise{77, 0};
  q_sample(beacon::cpu{2}, beacon::host_vector<const float>(coef.signal.data(), 12), beacon::host_matrix(x0.data(), 12, dim),
           beacon::host_vector<const float>(coef.noise.data(), 12), noise, beacon::host_matrix(xt.data(), 12, dim));
  int mismatches = 0;
  for (size_type r = 0; r < 12; ++r)
    for (size_type j = 0; j < dim; ++j) {
      const auto i = static_cast<std::size_t>(r * dim + j);
      const float expected = coef.signal[static_cast<std::size_t>(r)] * x0[i] +
                             coef.noise[static_cast<std::size_t>(r)] * noise.normal(static_cast<std::uint64_t>(i));
      mismatches += xt[i] != expected;
      if (!mask[static_cast<std::size_t>(r)]) mismatches += xt[i] != x0[i];
    }
  CHECK(mismatches == 0);
}

TEST_CASE("noising statistics over 10^6 draws: x0 = 0 gives mean 0 and variance 1 - alpha_bar") {
  const schedule_tables s = make_schedule(schedule_kind::cosine, 2000);
  const size_type rows = 1000, dim = 1000;
  const std::vector<index_type> t(1, 1200);
  const std::vector<std::uint8_t> mask(static_cast<std::size_t>(rows), 1);
  const auto coef = token_noising_coefficients<double>(s, t, beacon::host_matrix(mask.data(), 1, rows));
  std::vector<double> x0(static_cast<std::size_t>(rows * dim), 0.0), xt(x0.size());
  q_sample(beacon::cpu{2}, beacon::host_vector<const double>(coef.signal.data(), rows), beacon::host_matrix(x0.data(), rows, dim),
           beacon::host_vector<const double>(coef.noise.data(), rows), beacon::philox_stream{5, 0}, beacon::host_matrix(xt.data(), rows, dim));
  double mean = 0, sq = 0;
  for (double v : xt) {
    mean += v;
    sq += v * v;
  }
  mean /= static_cast<double>(xt.size());
  const double var = sq / static_cast<double>(xt.size()) - mean * mean, expected = 1 - s.alphas_cumprod[1200];
  CHECK(std::abs(mean) < 5 * std::sqrt(expected / 1e6));
  CHECK(std::abs(var / expected - 1) < 5 * std::sqrt(2.0 / 1e6));
}

TEST_CASE("entropy-aware noising coefficients and bad batches") {
  const info_schedule s(100);
  const std::vector<index_type> t = {50};
  const std::vector<double> e = {0.6, -0.4, 0.0};
  const std::vector<std::uint8_t> mask = {1, 1, 0};
  const auto c = token_noising_coefficients<double>(s, t, beacon::host_matrix(e.data(), 1, 3), beacon::host_matrix(mask.data(), 1, 3));
  CHECK(c.signal[0] == doctest::Approx(std::sqrt(s.tables(0.6).alphas_cumprod[50])).epsilon(1e-12));
  CHECK(c.signal[0] > c.signal[1]);  // the informative token keeps more signal
  CHECK(c.signal[2] == 1.0);
  CHECK(c.noise[2] == 0.0);
  const std::vector<index_type> bad_t = {100};
  CHECK_THROWS_WITH_AS(token_noising_coefficients<double>(s, bad_t, beacon::host_matrix(e.data(), 1, 3), beacon::host_matrix(mask.data(), 1, 3)),
                       "beacon::token_noising_coefficients: argument 't' expected timesteps in [0, T = 100), got 100 for example 0",
                       beacon::value_error);
  CHECK_THROWS_AS(token_noising_coefficients<double>(s, t, beacon::host_matrix(e.data(), 1, 2), beacon::host_matrix(mask.data(), 1, 3)),
                  beacon::shape_error);
  const std::vector<index_type> two = {1, 2};
  CHECK_THROWS_AS(token_noising_coefficients<double>(make_schedule(schedule_kind::sqrt, 10), two, beacon::host_matrix(mask.data(), 1, 3)),
                  beacon::shape_error);
}

TEST_CASE("x0 jitter: x0 = E[w] + sigma0 eps from the stream") {
  const auto emb = random_matrix(5, 4, 2);
  const std::vector<index_type> ids = {4, 0, 4};
  std::vector<float> x0(12);
  const float sigma0 = 0.121f;
  const beacon::philox_stream noise{9, 40};
  embed_with_jitter(beacon::cpu{1}, beacon::host_matrix(emb.data(), 5, 4), beacon::host_vector(ids.data(), 3), sigma0, noise,
                    beacon::host_matrix(x0.data(), 3, 4));
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t j = 0; j < 4; ++j)
      CHECK(x0[r * 4 + j] == emb[static_cast<std::size_t>(ids[r]) * 4 + j] + sigma0 * noise.normal(r * 4 + j));
}

TEST_CASE("oracle denoiser: a deterministic DDIM loop recovers x0 exactly, a DDPM loop converges to it") {
  const schedule_tables s = make_schedule(schedule_kind::sqrt, 200);
  const size_type rows = 6, dim = 16;
  const auto x0 = random_matrix(rows, dim, 3);
  std::vector<float> x(x0.size());
  beacon::fill_normal(beacon::cpu{1}, beacon::philox_stream{1, 0}, beacon::host_matrix(x.data(), rows, dim));
  for (size_type gap : {1, 7, 50}) {
    std::vector<float> xk = x;
    const auto ks = ddim_timesteps(200, gap);
    for (size_type k : ks) {
      reverse_step_rows<float> rows_coef;
      for (size_type r = 0; r < rows; ++r) rows_coef.push(ddim_coefficients(s, k, gap));
      reverse_step(beacon::cpu{1}, beacon::host_vector<const float>(rows_coef.a.data(), rows), beacon::host_matrix(x0.data(), rows, dim),
                   beacon::host_vector<const float>(rows_coef.b.data(), rows), beacon::host_matrix<const float>(xk.data(), rows, dim),
                   beacon::host_vector<const float>(rows_coef.c.data(), rows), beacon::philox_stream{2, 0},
                   beacon::host_matrix(xk.data(), rows, dim));
    }
    double worst = 0;
    for (std::size_t i = 0; i < xk.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(xk[i] - x0[i])));
    CAPTURE(gap);
    CHECK(worst == 0.0);  // the final step has alpha_bar_prev = 1: a = 1, b = 0
  }
  // DDPM with the posterior mean and fixed-large variance: the last step (k = 0) is noiseless and
  // its mean is coef1 x0 + coef2 x_1 = x0 (coef1 = 1, coef2 = 0).
  std::vector<float> xk = x;
  for (size_type k = 199; k >= 0; --k) {
    const reverse_coefficients c = ddpm_coefficients(s, k);
    std::vector<float> a(rows, static_cast<float>(c.a)), b(rows, static_cast<float>(c.b)), cc(rows, static_cast<float>(c.c));
    reverse_step(beacon::cpu{1}, beacon::host_vector<const float>(a.data(), rows), beacon::host_matrix(x0.data(), rows, dim),
                 beacon::host_vector<const float>(b.data(), rows), beacon::host_matrix<const float>(xk.data(), rows, dim),
                 beacon::host_vector<const float>(cc.data(), rows), beacon::philox_stream{3, static_cast<std::uint64_t>(k) * 1000},
                 beacon::host_matrix(xk.data(), rows, dim));
  }
  double worst = 0;
  for (std::size_t i = 0; i < xk.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(xk[i] - x0[i])));
  CHECK(worst < 1e-6);
}

TEST_CASE("re-anchoring resets source rows to their clean embeddings and leaves target rows") {
  std::vector<float> anchor = {1, 1, 2, 2, 3, 3}, x = {9, 9, 8, 8, 7, 7};
  const std::vector<index_type> source = {0, 2};
  reanchor_source(beacon::cpu{1}, beacon::host_matrix<const float>(anchor.data(), 3, 2), beacon::host_vector(source.data(), 2),
                  beacon::host_matrix(x.data(), 3, 2));
  CHECK(x == std::vector<float>{1, 1, 8, 8, 3, 3});
}

TEST_CASE("rounding: nearest embedding rows equal brute force, across chunk sizes, ties to the lower id") {
  const size_type vocab = 300, dim = 16, rows = 97;
  auto emb = random_matrix(vocab, dim, 4);
  for (size_type j = 0; j < dim; ++j) emb[static_cast<std::size_t>(11 * dim + j)] = emb[static_cast<std::size_t>(5 * dim + j)];  // duplicate row
  auto x = random_matrix(rows, dim, 5, 0.3f);
  for (size_type j = 0; j < dim; ++j) x[static_cast<std::size_t>(j)] = emb[static_cast<std::size_t>(11 * dim + j)];  // exactly on the duplicate
  std::vector<float> norms(static_cast<std::size_t>(vocab));
  const beacon::cpu be{2};
  embedding_squared_norms(be, beacon::host_matrix<const float>(emb.data(), vocab, dim), beacon::host_vector(norms.data(), vocab));
  std::vector<index_type> expected(static_cast<std::size_t>(rows));
  for (size_type i = 0; i < rows; ++i) {
    double best = INFINITY;
    for (size_type v = 0; v < vocab; ++v) {
      double d = 0;
      for (size_type j = 0; j < dim; ++j) {
        const double diff = double(emb[static_cast<std::size_t>(v * dim + j)]) - double(x[static_cast<std::size_t>(i * dim + j)]);
        d += diff * diff;
      }
      if (d < best) {
        best = d;
        expected[static_cast<std::size_t>(i)] = static_cast<index_type>(v);
      }
    }
  }
  CHECK(expected[0] == 5);
  for (size_type chunk : {0, 1, 7, 97, 1000}) {
    std::vector<index_type> ids(static_cast<std::size_t>(rows), -1);
    nearest_embedding(be, beacon::host_matrix<const float>(x.data(), rows, dim), beacon::host_matrix<const float>(emb.data(), vocab, dim),
                      beacon::host_vector<const float>(norms.data(), vocab), beacon::host_vector(ids.data(), rows), chunk);
    CAPTURE(chunk);
    CHECK(ids == expected);
  }
  std::vector<index_type> ids(static_cast<std::size_t>(rows));
  std::vector<float> rounded(x.size());
  round_to_embedding(be, beacon::host_matrix<const float>(x.data(), rows, dim), beacon::host_matrix<const float>(emb.data(), vocab, dim),
                     beacon::host_vector<const float>(norms.data(), vocab), beacon::host_vector(ids.data(), rows),
                     beacon::host_matrix(rounded.data(), rows, dim));
  CHECK(rounded[static_cast<std::size_t>(3 * dim + 2)] == emb[static_cast<std::size_t>(ids[3] * dim + 2)]);
  CHECK_THROWS_AS(nearest_embedding(be, beacon::host_matrix<const float>(x.data(), rows, dim), beacon::host_matrix<const float>(emb.data(), vocab, dim - 1),
                                    beacon::host_vector<const float>(norms.data(), vocab), beacon::host_vector(ids.data(), rows)),
                  beacon::shape_error);
}

TEST_CASE("self-conditioning: a Bernoulli(1/2) training mask and the sampler state") {
  const auto mask = self_conditioning_mask(100000, beacon::philox_stream{12, 0});
  const double frac = std::count(mask.begin(), mask.end(), 1) / 100000.0;
  CHECK(std::abs(frac - 0.5) < 5 * std::sqrt(0.25 / 100000));
  CHECK(self_conditioning_mask(64, beacon::philox_stream{12, 0}) == std::vector<std::uint8_t>(mask.begin(), mask.begin() + 64));
  CHECK(self_conditioning_mask(10, beacon::philox_stream{1, 0}, 0.0) == std::vector<std::uint8_t>(10, 0));
  CHECK_THROWS_AS(self_conditioning_mask(10, beacon::philox_stream{}, 1.5), beacon::value_error);

  std::vector<float> buffer(6, 5.0f), estimate = {1, 2, 3, 4, 5, 6};
  const beacon::cpu be{1};
  self_conditioning_state<beacon::cpu, float> state(beacon::host_matrix(buffer.data(), 3, 2));
  state.reset(be);
  CHECK_FALSE(state.has_previous());
  CHECK(buffer == std::vector<float>(6, 0.0f));
  state.update(be, beacon::host_matrix<const float>(estimate.data(), 3, 2));
  CHECK(state.has_previous());
  CHECK(buffer == estimate);
  CHECK_THROWS_AS(state.update(be, beacon::host_matrix<const float>(estimate.data(), 2, 3)), beacon::shape_error);
}

TEST_CASE("loss terms: hand-computed mse, tT and rounding CE, with the t = 0 target rule") {
  const schedule_tables s = make_schedule(schedule_kind::sqrt, 10);
  // B = 2 examples, L = 1 token, d = 2; V = 2 with embedding rows (1, 0) and (0, 1), bias (0, 0).
  const std::vector<double> x0 = {1.0, 0.5, 0.0, 2.0}, x0_hat = {0.5, 0.5, 1.0, 1.0}, clean = {1.0, 0.0, 0.0, 1.0};
  const std::vector<double> emb = {1, 0, 0, 1}, bias = {0, 0};
  const std::vector<index_type> ids = {0, 1}, t = {3, 0};
  const auto l = diffusion_losses(beacon::cpu{1}, s, t, beacon::host_matrix(x0.data(), 2, 2), beacon::host_matrix(x0_hat.data(), 2, 2),
                                          beacon::host_matrix(clean.data(), 2, 2), beacon::host_matrix(emb.data(), 2, 2),
                                          beacon::host_vector(bias.data(), 2), beacon::host_vector(ids.data(), 2));
  CHECK(l.mse[0] == doctest::Approx((0.25 + 0.0) / 2).epsilon(1e-15));  // target x0
  CHECK(l.mse[1] == doctest::Approx((1.0 + 0.0) / 2).epsilon(1e-15));   // t = 0: target clean = (0, 1)
  const double ab = s.alphas_cumprod.back();
  CHECK(l.tT[0] == doctest::Approx(ab * (1.0 + 0.25) / 2).epsilon(1e-14));
  // logits of x0 rows: (1, 0.5) and (0, 2); CE = logsumexp - logit[target]
  CHECK(l.decoder_nll[0] == doctest::Approx(std::log(std::exp(1.0) + std::exp(0.5)) - 1.0).epsilon(1e-14));
  CHECK(l.decoder_nll[1] == doctest::Approx(std::log(1.0 + std::exp(2.0)) - 2.0).epsilon(1e-14));
  CHECK(l.total[1] == doctest::Approx(l.mse[1] + l.decoder_nll[1] + l.tT[1]).epsilon(1e-15));
  const std::vector<index_type> bad = {0, 2};
  CHECK_THROWS_AS(diffusion_losses(beacon::cpu{1}, s, t, beacon::host_matrix(x0.data(), 2, 2), beacon::host_matrix(x0_hat.data(), 2, 2),
                                           beacon::host_matrix(clean.data(), 2, 2), beacon::host_matrix(emb.data(), 2, 2),
                                           beacon::host_vector(bias.data(), 2), beacon::host_vector(bad.data(), 2)),
                  beacon::value_error);
}

TEST_CASE("timestep samplers: uniform draws, then the loss-aware second-moment resampler") {
  const uniform_timestep_sampler uniform(10);
  const auto draw = uniform.sample(20000, beacon::philox_stream{3, 0});
  std::vector<int> hist(10);
  for (index_type t : draw.t) ++hist[static_cast<std::size_t>(t)];
  for (int h : hist) CHECK(std::abs(h - 2000) < 5 * std::sqrt(2000.0 * 0.9));
  CHECK(draw.weights[0] == doctest::Approx(1.0).epsilon(1e-12));

  loss_second_moment_sampler aware(2, 3, 0.001);
  CHECK(aware.probabilities() == std::vector<double>{0.5, 0.5});
  aware.update({0, 0, 0, 1, 1}, {1.0, 1.0, 1.0, 3.0, 3.0});
  CHECK_FALSE(aware.warmed_up());  // t = 1 holds only 2 of 3 losses
  aware.update({1, 0}, {3.0, 1.0});
  CHECK(aware.warmed_up());
  const auto p = aware.probabilities();
  CHECK(p[0] == doctest::Approx(0.25 * 0.999 + 0.0005).epsilon(1e-14));
  CHECK(p[1] == doctest::Approx(0.75 * 0.999 + 0.0005).epsilon(1e-14));
  const auto batch = aware.sample(1000, beacon::philox_stream{4, 0});
  for (std::size_t i = 0; i < batch.t.size(); ++i)
    CHECK(batch.weights[i] == doctest::Approx(1.0 / (2 * p[static_cast<std::size_t>(batch.t[i])])).epsilon(1e-12));
  CHECK_THROWS_AS(aware.update({2}, {1.0}), beacon::value_error);
  CHECK_THROWS_AS(aware.update({0}, {NAN}), beacon::value_error);
  CHECK_THROWS_AS(loss_second_moment_sampler(0), beacon::value_error);
}
