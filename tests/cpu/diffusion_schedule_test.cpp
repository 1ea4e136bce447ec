// SPDX-License-Identifier: Apache-2.0
// InfoDiffusion schedules: spec infodiffusion.md §5 spot values and edge cases, posterior identities,
// the entropy-aware schedule and the information measures.
#include <doctest/doctest.h>

#include <beacon/diffusion.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

using namespace beacon::diffusion;
using beacon::index_type;
using beacon::size_type;

namespace {
/// Number of representable doubles between a and b.
std::int64_t ulps_apart(double a, double b) {
  std::int64_t n = 0;
  for (double x = std::min(a, b); x < std::max(a, b) && n < 1000; x = std::nextafter(x, INFINITY)) ++n;
  return n;
}
#define CHECK_SPOT(got, expected) \
  do {                            \
    CAPTURE(got);                 \
    CHECK(ulps_apart((got), (expected)) <= 2); \
  } while (0)

const schedule_kind all_kinds[] = {schedule_kind::linear,    schedule_kind::cosine,  schedule_kind::sqrt, schedule_kind::trunc_cos,
                                   schedule_kind::trunc_lin, schedule_kind::pw_lin, schedule_kind::info};
}  // namespace

TEST_CASE("spec §5 spot values of the scalar schedules (17 significant digits, within 2 ulps)") {
  struct row {
    schedule_kind kind;
    size_type steps;
    double beta0, ab0, ab_half, ab_last, sigma0;
  };
  const row rows[] = {
      {schedule_kind::sqrt, 2000, 0.01464131053316331, 0.9853586894668367, 0.2957803148187003, 2.0204040808180702e-07, 0.1210012831880857},
      {schedule_kind::cosine, 2000, 2.0035133368456748e-05, 0.9999799648666315, 0.49384359044063836, 6.071920953835335e-10, 0.004476062261458921},
      {schedule_kind::linear, 2000, 4.999999999999449e-05, 0.99995, 0.07882579893156481, 4.1755570628503504e-05, 0.007071067811865086},
      {schedule_kind::sqrt, 10, 0.30948064685972476, 0.6905193531402752, 0.2957803148187012, 5.1781816955305926e-05, 0.5563098478902965},
  };
  for (const auto& r : rows) {
    CAPTURE(to_string(r.kind));
    CAPTURE(r.steps);
    const schedule_tables s = make_schedule(r.kind, r.steps);
    CHECK_SPOT(s.betas[0], r.beta0);
    CHECK_SPOT(s.alphas_cumprod[0], r.ab0);
    CHECK_SPOT(s.alphas_cumprod[static_cast<std::size_t>(r.steps / 2 - 1)], r.ab_half);
    CHECK_SPOT(s.alphas_cumprod.back(), r.ab_last);
    CHECK_SPOT(s.sqrt_one_minus_alphas_cumprod[0], r.sigma0);
  }
  // The effective (respaced) linear beta differs from the raw linspace value in the last bits.
  CHECK(named_betas(schedule_kind::linear, 2000)[0] == 5e-05);
}

TEST_CASE("posterior identities hold for every schedule and T in {10, 100, 2000}") {
  for (auto kind : all_kinds)
    for (size_type steps : {10, 100, 2000}) {
      const bool invalid = (kind == schedule_kind::linear || kind == schedule_kind::trunc_lin || kind == schedule_kind::pw_lin) && steps == 10;
      CAPTURE(to_string(kind));
      CAPTURE(steps);
      if (invalid) {
        CHECK_THROWS_AS(make_schedule(kind, steps), beacon::value_error);
        continue;
      }
      const schedule_tables s = make_schedule(kind, steps);
      double worst_mean = 0, worst_var = 0;
      for (std::size_t k = 0; k < s.betas.size(); ++k) {
        worst_mean = std::max(worst_mean, std::abs(s.posterior_mean_coef1[k] + s.posterior_mean_coef2[k] * s.sqrt_alphas_cumprod[k] -
                                                   std::sqrt(s.alphas_cumprod_prev[k])));
        worst_var = std::max(worst_var, std::abs(s.posterior_variance[k] + s.posterior_mean_coef2[k] * s.posterior_mean_coef2[k] *
                                                                                (1 - s.alphas_cumprod[k]) - (1 - s.alphas_cumprod_prev[k])));
      }
      CHECK(worst_mean <= 1e-12);
      CHECK(worst_var <= 1e-12);
    }
}

TEST_CASE("edge 1: k = 0 has alpha_bar_prev = 1, coef1 = 1, coef2 = 0, pv = 0, clipped log variance from pv_1, no sampler noise") {
  const schedule_tables s = make_schedule(schedule_kind::sqrt, 2000);
  CHECK(s.alphas_cumprod_prev[0] == 1.0);
  CHECK(s.posterior_mean_coef1[0] == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(s.posterior_mean_coef2[0] == 0.0);
  CHECK(s.posterior_variance[0] == 0.0);
  CHECK(s.posterior_log_variance_clipped[0] == std::log(s.posterior_variance[1]));
  CHECK(s.posterior_log_variance_clipped[5] == std::log(s.posterior_variance[5]));
  CHECK(ddpm_coefficients(s, 0).c == 0.0);
  CHECK(ddpm_coefficients(s, 1).c == std::sqrt(s.fixed_large_variance(1)));
  CHECK(s.fixed_large_variance(0) == s.posterior_variance[1]);
  CHECK(s.fixed_large_variance(7) == s.betas[7]);
}

TEST_CASE("edges 2 and 3: exactly one clipped beta for cosine and sqrt, alpha_bar_{T-1} = 0.001 alpha_bar_{T-2}") {
  for (auto kind : {schedule_kind::cosine, schedule_kind::sqrt})
    for (size_type steps : {10, 100, 2000}) {
      const auto raw = named_betas(kind, steps);
      CHECK(std::count(raw.begin(), raw.end(), 0.999) == 1);
      CHECK(raw.back() == 0.999);
      const schedule_tables s = make_schedule(kind, steps);
      CHECK(s.alphas_cumprod.back() > 0.0);
      CHECK(s.alphas_cumprod.back() / s.alphas_cumprod[s.alphas_cumprod.size() - 2] == doctest::Approx(0.001).epsilon(1e-9));
    }
}

TEST_CASE("edge 4: linear schedules with a beta >= 1 are rejected, naming the argument") {
  CHECK_THROWS_WITH_AS(make_schedule(schedule_kind::linear, 10),
                       "beacon::make_schedule: argument 'steps' expected a value giving betas in (0, 1) for the linear schedule, got 10 (beta_5 = 1.11556)",
                       beacon::value_error);
  CHECK_THROWS_AS(make_schedule(schedule_kind::linear, 20), beacon::value_error);  // beta_end = 1 exactly
  CHECK_NOTHROW(make_schedule(schedule_kind::linear, 21));
  CHECK_THROWS_AS(make_schedule(schedule_kind::sqrt, 0), beacon::value_error);
  CHECK_THROWS_AS(tables_from_betas({0.1, 0.0}), beacon::value_error);  // beta = 0 only for per-token schedules
  CHECK_NOTHROW(tables_from_betas({0.1, 0.0}, true));
  CHECK_THROWS_AS(tables_from_betas({}), beacon::value_error);
  CHECK_THROWS_AS(parse_schedule_kind("quadratic"), beacon::value_error);
  CHECK(parse_schedule_kind("trunc_cos") == schedule_kind::trunc_cos);
}

TEST_CASE("info schedule, T = 10, lambda = 0.5: spec §5 values for e = +0.5351, -0.4649 and 0") {
  const info_schedule s(10);
  const std::vector<double> mat = {.98268, .95727, .91647, .85447, .76757, .65447, .51647, .35727, .18268, 1.8268e-4};
  const std::vector<double> the = {.82817, .66338, .51196, .37894, .26757, .17894, .11196, .06338, .02817, 2.8174e-5};
  const auto t_mat = s.tables(0.5351), t_the = s.tables(-0.4649), t_zero = s.tables(0.0);
  for (std::size_t k = 0; k < 10; ++k) {
    // The spec rounds e to 4 digits and the values to 5: agreement to 3e-5 relative.
    CHECK(t_mat.alphas_cumprod[k] == doctest::Approx(mat[k]).epsilon(3e-5));
    CHECK(t_the.alphas_cumprod[k] == doctest::Approx(the[k]).epsilon(3e-4));
    CHECK(t_zero.alphas_cumprod[k] == doctest::Approx(k < 9 ? 0.9 - 0.1 * double(k) : 1e-4).epsilon(1e-12));
  }
  // At tau = 1/2 the curve is 1/2 + lambda * e (sin(pi/2) = 1): the value after k = T/2 - 1 steps.
  CHECK(t_mat.alphas_cumprod[4] == doctest::Approx(0.5 + 0.5 * 0.5351).epsilon(1e-12));
  // The scalar `info` schedule is the e = 0 curve.
  const schedule_tables named = make_schedule(schedule_kind::info, 10);
  for (std::size_t k = 0; k < 10; ++k) CHECK(named.alphas_cumprod[k] == t_zero.alphas_cumprod[k]);
}

TEST_CASE("keyinfo-first: larger e keeps larger alpha_bar at every step in (0, T)") {
  const info_schedule s(2000, {.lambda = 0.5});
  const std::vector<double> es = {-1.0, -0.6, -0.2, 0.0, 0.1, 0.4, 0.63, 1.0};
  std::vector<schedule_tables> tables;
  for (double e : es) tables.push_back(s.tables(e));
  int violations = 0, strict = 0;
  for (std::size_t a = 0; a + 1 < es.size(); ++a)
    for (std::size_t k = 0; k + 1 < 2000; ++k) {
      const double lo = tables[a].alphas_cumprod[k], hi = tables[a + 1].alphas_cumprod[k];
      violations += hi < lo;
      if (lo > 0.0 && hi < 1.0) strict += hi > lo;  // outside saturation both are strictly ordered
      else strict += 1;
    }
  CHECK(violations == 0);
  CHECK(strict == 7 * 1999);
  // lambda = 0 removes the effect entirely.
  const info_schedule flat(100, {.lambda = 0.0});
  CHECK(flat.tables(0.9).alphas_cumprod == flat.tables(-0.9).alphas_cumprod);
}

TEST_CASE("edges 5 and 6: saturated tokens stay exactly clean, early-dead tokens underflow to 0") {
  const info_schedule s(2000);
  const schedule_tables hi = s.tables(1.0);
  CHECK(std::count(hi.alphas_cumprod.begin(), hi.alphas_cumprod.end(), 1.0) == 1000);
  CHECK(hi.betas[0] == 0.0);
  CHECK(hi.posterior_mean_coef1[500] == 1.0);
  CHECK(hi.posterior_mean_coef2[500] == 0.0);
  CHECK(hi.posterior_variance[500] == 0.0);
  const step_coefficients c = s.coefficients(500, 1.0);
  CHECK(c.coef1 == 1.0);
  CHECK(c.coef2 == 0.0);
  CHECK(c.sqrt_one_minus_alpha_bar == 0.0);
  const schedule_tables lo = s.tables(-1.0);
  CHECK(std::count(lo.alphas_cumprod.begin(), lo.alphas_cumprod.end(), 0.0) == 895);
  // DDIM stays finite on dead tokens thanks to the alpha_bar floor.
  const reverse_coefficients r = ddim_coefficients(s, 1999, 10, -1.0);
  CHECK(std::isfinite(r.a));
  CHECK(std::isfinite(r.b));
  // A saturated token's DDIM step returns x0_hat itself.
  const reverse_coefficients clean = ddim_coefficients(s, 300, 10, 1.0);
  CHECK(clean.a == 1.0);
  CHECK(clean.b == 0.0);
}

TEST_CASE("on-the-fly alpha_bar(k, e) agrees with the per-token tables without T x L storage") {
  const info_schedule s(2000, {.lambda = 0.5});
  double worst = 0;
  int zero_mismatch = 0;
  for (double e : {-1.0, -0.7, -0.3, 0.0, 0.2, 0.5351, 0.64, 1.0}) {
    const schedule_tables t = s.tables(e);
    for (size_type k = 0; k < 2000; ++k) {
      const double table = t.alphas_cumprod[static_cast<std::size_t>(k)], fly = s.alpha_bar(k, e);
      if (table < 1e-280) {
        zero_mismatch += fly > 1e-280;
        continue;
      }
      worst = std::max(worst, std::abs(fly - table) / table);
    }
    const step_coefficients c = s.coefficients(1234, e);
    CHECK(c.coef1 == doctest::Approx(t.posterior_mean_coef1[1234]).epsilon(1e-11));
    CHECK(c.coef2 == doctest::Approx(t.posterior_mean_coef2[1234]).epsilon(1e-11));
    CHECK(c.posterior_variance == doctest::Approx(t.posterior_variance[1234]).epsilon(1e-11));
  }
  CHECK(worst < 1e-12);
  CHECK(zero_mismatch == 0);
  const auto table = s.alpha_bar_table(std::vector<double>{0.3, -0.3});
  CHECK(table.size() == 4000);
  CHECK(table[2 * 100 + 1] == s.tables(-0.3).alphas_cumprod[100]);
}

TEST_CASE("info schedule rejects bad arguments") {
  CHECK_THROWS_WITH_AS(info_schedule(0), "beacon::info_schedule: argument 'steps' expected >= 1, got 0", beacon::value_error);
  CHECK_THROWS_WITH_AS(info_schedule(10, {.lambda = -0.1}), "beacon::info_schedule: argument 'lambda' expected >= 0 and finite, got -0.1",
                       beacon::value_error);
  CHECK_THROWS_AS(info_schedule(10, {.lambda = 0.5, .max_beta = 1.0}), beacon::value_error);
  const info_schedule s(10);
  CHECK_THROWS_WITH_AS((void)s.alpha_bar(10, 0.0), "beacon::info_schedule::alpha_bar: argument 'k' expected in [0, 10), got 10", beacon::value_error);
  CHECK_THROWS_AS((void)s.tables(NAN), beacon::value_error);
}

TEST_CASE("edges 7, 8 and 9: equal information gives e = 0, specials are excluded, unseen words are finite and largest") {
  beacon::diffusion::corpus_statistics stats(6);  // 0 = [PAD], 1 = [CLS], 2 = the, 3 = cat, 4 = school, 5 = zebra (unseen)
  for (int i = 0; i < 5; ++i) stats.add_sentence(std::vector<index_type>{1, 2, 3, 2, 0});
  stats.add_sentence(std::vector<index_type>{1, 2, 4, 0});
  CHECK(stats.tokens() == 29);
  CHECK(stats.self_information(2) == doctest::Approx(-std::log((11.0 + 1) / (29 + 6 + 1))).epsilon(1e-15));
  CHECK(std::isfinite(stats.self_information(5)));
  CHECK(stats.self_information(5) > stats.self_information(4));
  CHECK(stats.self_information(4) > stats.self_information(3));
  CHECK(stats.self_information(3) > stats.self_information(2));

  const std::vector<index_type> sentence = {1, 2, 4, 5, 0};
  const std::vector<std::uint8_t> special = {1, 0, 0, 0, 1};
  const auto h = token_information(stats, sentence);
  const auto e = normalised_information(h, special);
  CHECK(e[0] == 0.0);
  CHECK(e[4] == 0.0);
  const double mean = (h[1] + h[2] + h[3]) / 3, range = h[3] - h[1];
  CHECK(e[1] == doctest::Approx((h[1] - mean) / range).epsilon(1e-14));
  CHECK(e[3] == doctest::Approx((h[3] - mean) / range).epsilon(1e-14));
  CHECK(e[3] - e[1] == doctest::Approx(1.0).epsilon(1e-14));  // max - min spans exactly 1
  // All-equal information and a single token both give e = 0 (no division by zero).
  CHECK(normalised_information(std::vector<double>{2.0, 2.0, 2.0}) == std::vector<double>{0, 0, 0});
  CHECK(normalised_information(std::vector<double>{7.0}) == std::vector<double>{0});
  CHECK(normalised_information(std::vector<double>{1.0, 5.0}, std::vector<std::uint8_t>{1, 1}) == std::vector<double>{0, 0});
  CHECK_THROWS_AS(normalised_information(std::vector<double>{1.0, INFINITY}), beacon::value_error);
  CHECK_THROWS_AS(normalised_information(std::vector<double>{1.0}, std::vector<std::uint8_t>{1, 0}), beacon::shape_error);
  CHECK_THROWS_AS(stats.add_sentence(std::vector<index_type>{6}), beacon::value_error);

  // TF-IDF: "the" appears in every document, so its idf is the smallest.
  const auto tfidf = token_information(stats, sentence, information_measure::tf_idf);
  CHECK(tfidf[1] == doctest::Approx(0.2 * (std::log(7.0 / 7.0) + 1)).epsilon(1e-14));
  CHECK(tfidf[2] == doctest::Approx(0.2 * (std::log(7.0 / 2.0) + 1)).epsilon(1e-14));
}

TEST_CASE("edges 11 and 13: DDIM index sets for T = 2000, and the timestep fed to the network") {
  CHECK(ddim_timesteps(2000, 1).size() == 2000);
  CHECK(ddim_timesteps(2000, 1).back() == 0);
  for (size_type gap : {2, 3, 10, 100, 1998}) {
    const auto ks = ddim_timesteps(2000, gap);
    CAPTURE(gap);
    CHECK(ks.front() == 1999);
    CHECK(ks.back() == 1999 % gap);
    CHECK(ks.back() != 0);  // 1999 is prime: no gap in 2..1998 reaches k = 0
    CHECK(ks.size() == static_cast<std::size_t>(1999 / gap + 1));
  }
  CHECK(ddim_timesteps(2000, 1999) == std::vector<size_type>{1999, 0});
  CHECK(ddim_timesteps(2000, 2000) == std::vector<size_type>{1999});
  CHECK_THROWS_AS(ddim_timesteps(2000, 0), beacon::value_error);
  CHECK_THROWS_AS(ddim_timesteps(0, 1), beacon::value_error);
  CHECK(rescaled_timestep(1999, 2000) == 999.5);
  CHECK(rescaled_timestep(0, 2000) == 0.0);
  CHECK_THROWS_AS(rescaled_timestep(2000, 2000), beacon::value_error);
}

TEST_CASE("DDIM: strided alpha_bar_{k-gap} by default, the reference's alpha_bar_{k-1} behind a flag") {
  const schedule_tables s = make_schedule(schedule_kind::sqrt, 100);
  const auto strided = ddim_coefficients(s, 50, 10);
  const auto quirk = ddim_coefficients(s, 50, 10, {.reference_quirk = true});
  CHECK(strided.a == doctest::Approx(ddim_coefficients_from(s.alphas_cumprod[50], s.alphas_cumprod[40], true, {}).a).epsilon(1e-15));
  CHECK(quirk.a == doctest::Approx(ddim_coefficients_from(s.alphas_cumprod[50], s.alphas_cumprod[49], true, {}).a).epsilon(1e-15));
  CHECK(strided.a != quirk.a);
  // Deterministic DDIM (eta = 0) adds no noise; eta > 0 does, except at k = 0.
  CHECK(strided.c == 0.0);
  CHECK(ddim_coefficients(s, 50, 10, {.eta = 1.0}).c > 0.0);
  CHECK(ddim_coefficients(s, 0, 10, {.eta = 1.0}).c == 0.0);
  // With alpha_bar_prev = 1 (the step past the start) the update returns x0_hat exactly.
  const auto last = ddim_coefficients(s, 5, 10);
  CHECK(last.a == 1.0);
  CHECK(last.b == 0.0);
}
