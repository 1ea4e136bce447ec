// SPDX-License-Identifier: Apache-2.0
// The library's backend-generic moe::adaptor against the Eigen oracle (tests/oracle), for every
// router x expert combination: forward outputs, every trainable parameter's gradient, and several
// AdamW training steps (forced and by-score routing), with the oracle holding the same values.
// Plus what the adaptor itself promises: bit-frozen earlier experts and keys, a no-op insertion,
// thread counts that do not change the result beyond GEMM rounding, and argument errors.
#include <doctest/doctest.h>

#include "../support/oracle_sync.hpp"
#include "../support/random_matrix.hpp"

#include <beacon/backend/cpu.hpp>
#include <beacon/beacon.hpp>
#include <beacon/io/adaptor_checkpoint.hpp>
#include <beacon/moe.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../oracle/oracle.hpp"

namespace moe = beacon::moe;
namespace oracle = beacon::oracle;
using beacon::activation;
using beacon::index_type;
using beacon::row_matrix;
using beacon::size_type;

namespace {

using beacon_test::difference;
using beacon_test::random_matrix;
using beacon_test::sync;

double max_abs_diff(const row_matrix<double>& a, const row_matrix<double>& b) { return (a - b).cwiseAbs().maxCoeff(); }

template <class NewRouter, class OldRouter, class NewExpert, class OldExpert>
void compare(const char* label, const typename NewRouter::options& ro, size_type length, bool forced, int threads = 2) {
  CAPTURE(label);
  using A = moe::adaptor<double, NewRouter, NewExpert, beacon::cpu>;
  using O = oracle::adaptor<double, OldRouter, OldExpert>;
  const size_type d = 6, h = 5, batch = 3;
  typename A::config ca{.d_model = d, .expert_hidden = h, .router_rank = 3, .key_dim = 4, .lambda = 0.7, .router = ro, .seed = 11};
  typename O::config co{.d_model = d, .expert_hidden = h, .router_rank = 3, .key_dim = 4, .lambda = 0.7, .router = ro, .seed = 11};
  A a(beacon::cpu{threads}, ca);
  O o(beacon::cpu{1}, co);
  beacon::adamw opt_a, opt_o;
  opt_a.lr = opt_o.lr = 0.05;
  for (int step = 0; step < 3; ++step) {
    const row_matrix<double> e = random_matrix(batch, d, 100 + step) + row_matrix<double>::Constant(batch, d, step);
    const row_matrix<double> x = random_matrix(batch * length, d, 200 + step);
    a.insert_expert(moe::expert_init<double>::random_normal(static_cast<std::uint64_t>(step), 0.3), beacon::as_view(e));
    o.insert_expert(oracle::expert_init<double>::random_normal(static_cast<std::uint64_t>(step), 0.3), beacon::as_view(e));
    sync(a, o);
    const index_type force = forced ? static_cast<index_type>(step) : -1;
    for (int it = 0; it < 3; ++it) {
      const row_matrix<double> target = random_matrix(batch * length, d, 300 + 10 * step + it);
      auto loss = [&](auto out, auto dout) {
        double l = 0;
        for (size_type i = 0; i < out.rows(); ++i)
          for (size_type j = 0; j < out.cols(); ++j) {
            dout(i, j) = out(i, j) - target(i, j);
            l += 0.5 * dout(i, j) * dout(i, j);
          }
        return l;
      };
      const double la = a.train_step(beacon::as_view(x), beacon::as_view(e), loss, opt_a, force);
      const double lo = o.train_step(beacon::as_view(x), beacon::as_view(e), loss, opt_o, force);
      CHECK(la == doctest::Approx(lo).epsilon(1e-9));
      CHECK(difference(a, o, false) < 1e-9);
    }
  }
  // Forward on rows mixing every batch, then the gradients of one backward.
  const row_matrix<double> e = random_matrix(4, d, 7) + row_matrix<double>::Constant(4, d, 1.0);
  const row_matrix<double> x = random_matrix(4 * length, d, 8), dout = random_matrix(4 * length, d, 9);
  row_matrix<double> out_a(x.rows(), d), out_o(x.rows(), d);
  typename A::forward_state st;
  typename O::forward_state so;
  a.zero_grad();
  o.zero_grad();
  a.forward(beacon::as_view(x), beacon::as_view(e), beacon::as_view(out_a), st);
  o.forward(beacon::as_view(x), beacon::as_view(e), beacon::as_view(out_o), &so);
  CHECK(max_abs_diff(out_a, out_o) < 1e-10);
  CHECK(out_a.cwiseAbs().maxCoeff() > 0);  // the comparison is not between zeros
  a.backward(st, beacon::as_view(dout));
  o.backward(so, beacon::as_view(dout));
  CHECK(difference(a, o, true) < 1e-9);
  // The const inference path gives the same bits as the state-keeping one.
  row_matrix<double> again(x.rows(), d);
  std::as_const(a).forward(beacon::as_view(x), beacon::as_view(e), beacon::as_view(again));
  CHECK(max_abs_diff(out_a, again) == 0.0);
  // Top-1 routes agree.
  CHECK(a.route_top1(beacon::as_view(e)) == o.route_top1(beacon::as_view(e)));
}

template <class NR, class OR>
void every_expert(const char* label, const typename NR::options& ro, size_type length, bool forced) {
  compare<NR, OR, moe::swiglu_expert, oracle::swiglu_expert>((std::string(label) + " x swiglu").c_str(), ro, length, forced);
  compare<NR, OR, moe::mlp_expert<activation::relu>, oracle::mlp_expert<activation::relu>>((std::string(label) + " x mlp<relu>").c_str(), ro, length, forced);
  compare<NR, OR, moe::mlp_expert<activation::gelu>, oracle::mlp_expert<activation::gelu>>((std::string(label) + " x mlp<gelu>").c_str(), ro, length, forced);
  compare<NR, OR, moe::lora_expert<3, activation::silu>, oracle::lora_expert<3, activation::silu>>((std::string(label) + " x lora<3,silu>").c_str(), ro,
                                                                                                 length, forced);
  compare<NR, OR, moe::lora_expert<2>, oracle::lora_expert<2>>((std::string(label) + " x lora<2>").c_str(), ro, length, forced);
}

}  // namespace

TEST_CASE("adaptor vs oracle: paper-faithful KV-anchor router (shared projection, dot, softmax over all) x every expert") {
  every_expert<moe::kv_anchor_router<moe::top_k<1>>, oracle::kv_anchor_router<oracle::top_k<1>>>("kv<1>", {}, 2, false);
  every_expert<moe::kv_anchor_router<moe::top_k<2>>, oracle::kv_anchor_router<oracle::top_k<2>>>("kv<2> forced", {}, 2, true);
}

TEST_CASE("adaptor vs oracle: KV-anchor variants (per-expert projections, cosine, scaled dot, renormalised, null route, key inits)") {
  using kv2 = moe::kv_anchor_router<moe::top_k<2>>;
  using okv2 = oracle::kv_anchor_router<oracle::top_k<2>>;
  moe::kv_router_options o;
  o.projection = moe::projection_mode::per_expert_frozen;
  o.score = moe::score_function::cosine;
  compare<kv2, okv2, moe::swiglu_expert, oracle::swiglu_expert>("per-expert cosine", o, 2, false);
  compare<kv2, okv2, moe::swiglu_expert, oracle::swiglu_expert>("per-expert cosine forced", o, 2, true);
  o.projection = moe::projection_mode::shared_retrained;
  compare<kv2, okv2, moe::mlp_expert<activation::silu>, oracle::mlp_expert<activation::silu>>("shared cosine", o, 3, false);
  o.score = moe::score_function::scaled_dot;
  o.gate = moe::gate_norm::renormalize_top_k;
  o.key = moe::key_init::normalized_batch_mean;
  compare<kv2, okv2, moe::mlp_expert<activation::silu>, oracle::mlp_expert<activation::silu>>("scaled renormalised", o, 1, false);
  compare<kv2, okv2, moe::mlp_expert<activation::silu>, oracle::mlp_expert<activation::silu>>("scaled renormalised forced", o, 1, true);
  o.projection = moe::projection_mode::per_expert_frozen;
  o.score = moe::score_function::dot;
  o.key = moe::key_init::random;
  o.null_route = true;
  o.null_threshold = 0.0;
  compare<moe::kv_anchor_router<moe::top_k<3>>, oracle::kv_anchor_router<oracle::top_k<3>>, moe::lora_expert<2, activation::relu>,
          oracle::lora_expert<2, activation::relu>>("per-expert dot, null route, random keys, k = 3", o, 2, false);
}

TEST_CASE("adaptor vs oracle: softmax top-k router (noise, load balancing, renormalised) x every expert") {
  moe::softmax_router_options o;
  every_expert<moe::softmax_topk_router<moe::top_k<1>>, oracle::softmax_topk_router<oracle::top_k<1>>>("softmax<1>", o, 1, false);
  o.noise_std = 0.3;
  o.load_balance_weight = 0.05;
  every_expert<moe::softmax_topk_router<moe::top_k<2>>, oracle::softmax_topk_router<oracle::top_k<2>>>("softmax<2> noisy balanced", o, 1, false);
  o.gate = moe::gate_norm::renormalize_top_k;
  compare<moe::softmax_topk_router<moe::top_k<2>>, oracle::softmax_topk_router<oracle::top_k<2>>, moe::swiglu_expert, oracle::swiglu_expert>(
      "softmax<2> renormalised", o, 1, false);
}

TEST_CASE("adaptor vs oracle: per-instance anchor router (null route, forced training route) x every expert") {
  moe::instance_anchor_options o;
  o.threshold = 0.2;
  every_expert<moe::instance_anchor_router<moe::top_k<1>>, oracle::instance_anchor_router<oracle::top_k<1>>>("instance<1>", o, 2, true);
  o.centre = false;
  every_expert<moe::instance_anchor_router<moe::top_k<2>>, oracle::instance_anchor_router<oracle::top_k<2>>>("instance<2> uncentred", o, 2, false);
}

TEST_CASE("routing replay through the library adaptor equals the oracle's (value and gradients)") {
  using A = moe::adaptor<double, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, beacon::cpu>;
  using O = oracle::adaptor<double, oracle::kv_anchor_router<oracle::top_k<1>>, oracle::swiglu_expert>;
  A a(beacon::cpu{1}, {.d_model = 5, .expert_hidden = 4, .router_rank = 3});
  O o(beacon::cpu{1}, {.d_model = 5, .expert_hidden = 4, .router_rank = 3});
  row_matrix<double> seen(6, 5);
  for (int s = 0; s < 3; ++s) {
    const row_matrix<double> e = random_matrix(2, 5, 40 + s) + row_matrix<double>::Constant(2, 5, s);
    seen.middleRows(2 * s, 2) = e;
    a.insert_expert(moe::expert_init<double>::random_normal(s), beacon::as_view(e));
    o.insert_expert(oracle::expert_init<double>::random_normal(s), beacon::as_view(e));
  }
  sync(a, o);
  a.zero_grad();
  o.zero_grad();
  const std::vector<index_type> labels = {0, 0, 1, 1, 2, 2};
  const double ca = a.routing_replay(beacon::as_view(seen), labels, 0.5);
  const double co = o.routing_replay(beacon::as_view(seen), labels, 0.5);
  CHECK(ca == doctest::Approx(co).epsilon(1e-12));
  CHECK(ca > 0);
  CHECK(difference(a, o, true) < 1e-10);
  CHECK_THROWS_AS(a.routing_replay(beacon::as_view(seen), {0, 1}, 1.0), beacon::shape_error);
  CHECK_THROWS_AS(a.routing_replay(beacon::as_view(seen), {0, 0, 1, 1, 2, 3}, 1.0), beacon::value_error);
}

TEST_CASE("ten insertions with training keep every earlier expert, key and projection bit-identical") {
  moe::kv_router_options o;
  o.projection = moe::projection_mode::per_expert_frozen;
  using A = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, beacon::cpu>;
  A a(beacon::cpu{2}, {.d_model = 8, .expert_hidden = 6, .router_rank = 4, .router = o});
  beacon::adamw opt;
  opt.lr = 0.1;
  std::map<std::string, std::vector<float>> snapshot;  // every parameter row that must not move, by "name/row"
  for (int step = 0; step < 10; ++step) {
    const row_matrix<float> e = random_matrix(2, 8, 500 + step).cast<float>(), x = random_matrix(6, 8, 600 + step).cast<float>();
    a.insert_expert(moe::expert_init<float>::random_normal(step, 0.3), beacon::as_view(e));
    // What was frozen before keeps its bytes; what is frozen now is recorded.
    for (const auto* p : a.parameters())
      for (size_type r = 0; r < p->frozen_rows(); ++r) {
        const std::string id = p->name() + "/" + std::to_string(r);
        std::vector<float> bytes(p->value().row(r), p->value().row(r) + p->cols());
        if (snapshot.count(id)) CHECK(std::memcmp(snapshot[id].data(), bytes.data(), bytes.size() * sizeof(float)) == 0);
        else snapshot[id] = bytes;
      }
    for (int it = 0; it < 4; ++it)
      a.train_step(beacon::as_view(x), beacon::as_view(e),
                   [](auto out, auto d) {
                     for (size_type i = 0; i < out.rows(); ++i)
                       for (size_type j = 0; j < out.cols(); ++j) d(i, j) = out(i, j) - 1.0f;
                     return 0.0;
                   },
                   opt, step);
  }
  CHECK(snapshot.size() > 50);  // 9 experts x 3 matrices x rows, keys, projections
  size_type trainable = 0;
  for (const auto* p : a.parameters()) trainable += p->trainable() ? 1 : 0;
  CHECK(trainable == 6);  // the newest expert's 3 matrices, its projection (2) and the keys (one trainable row)
}

TEST_CASE("inserting an expert with a zeroed output projection leaves outputs unchanged, and copy_of copies the FFN") {
  using A = moe::adaptor<double, moe::kv_anchor_router<moe::top_k<1>>, moe::mlp_expert<activation::relu>, beacon::cpu>;
  moe::kv_router_options o;
  o.gate = moe::gate_norm::renormalize_top_k;
  A a(beacon::cpu{1}, {.d_model = 4, .expert_hidden = 3, .router = o});
  const row_matrix<double> w1 = random_matrix(3, 4, 1), e = random_matrix(2, 4, 2), x = random_matrix(4, 4, 3);
  a.insert_expert(moe::expert_init<double>::copy_of({beacon::as_view(w1)}), beacon::as_view(e));
  CHECK(std::memcmp(a.expert(0)[0].value().data(), w1.data(), sizeof(double) * 12) == 0);
  row_matrix<double> out(4, 4);
  a.forward(beacon::as_view(x), beacon::as_view(e), beacon::as_view(out));
  CHECK(out.cwiseAbs().maxCoeff() == 0.0);  // W2 = 0, b2 = 0: the adaptor adds nothing
  CHECK_THROWS_AS(a.insert_expert(moe::expert_init<double>::copy_of({beacon::as_view(e)}), beacon::as_view(e)), beacon::shape_error);
}

TEST_CASE("LoRA experts refuse copy_of initialisation instead of ignoring it") {
  using A = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::lora_expert<4>, beacon::cpu>;
  A a(beacon::cpu{1}, {.d_model = 4, .expert_hidden = 3});
  const row_matrix<float> w = row_matrix<float>::Ones(3, 4);
  CHECK_THROWS_WITH_AS(a.insert_expert(moe::expert_init<float>::copy_of({beacon::as_view(w)})),
                       doctest::Contains("expert_init::random_normal"), beacon::value_error);
}

TEST_CASE("the adaptor honours cpu{threads}: 1 and 2 threads agree to GEMM rounding, each is deterministic") {
  using A = moe::adaptor<float, moe::softmax_topk_router<moe::top_k<2>>, moe::swiglu_expert, beacon::cpu>;
  const row_matrix<float> x = random_matrix(4096, 64, 1).cast<float>();
  auto run = [&](int threads) {
    A a(beacon::cpu{threads}, {.d_model = 64, .expert_hidden = 96, .seed = 3});
    for (int s = 0; s < 4; ++s) {
      a.insert_expert(moe::expert_init<float>::random_normal(s, 0.2));
      const row_matrix<float> w2 = random_matrix(64, 96, 70 + s).cast<float>();
      std::memcpy(a.parameters().back()->value().data(), w2.data(), sizeof(float) * 64 * 96);
    }
    CHECK(a.get_backend().threads() == threads);
    row_matrix<float> out(4096, 64);
    a.forward(beacon::as_view(x), beacon::matrix_view<const float>(), beacon::as_view(out));
    return out;
  };
  const auto one = run(1), two = run(2), two_again = run(2);
  CHECK((two - two_again).cwiseAbs().maxCoeff() == 0.0f);
  CHECK((one - two).cwiseAbs().maxCoeff() < 1e-4f * (1.0f + one.cwiseAbs().maxCoeff()));
}

TEST_CASE("adaptor arguments are checked by name") {
  using A = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, beacon::cpu>;
  CHECK_THROWS_WITH_AS(A(beacon::cpu{1}, {.d_model = 0, .expert_hidden = 3}), doctest::Contains("config.d_model"), beacon::value_error);
  CHECK_THROWS_WITH_AS(A(beacon::cpu{1}, {.d_model = 4, .expert_hidden = 3, .lambda = -1}), doctest::Contains("config.lambda"), beacon::value_error);
  A a(beacon::cpu{1}, {.d_model = 4, .expert_hidden = 3});
  row_matrix<float> x(6, 4), e(4, 4), out(6, 4);
  x.setOnes();
  e.setOnes();
  CHECK_THROWS_WITH_AS(a.forward(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)), beacon::as_view(out)),
                       doctest::Contains("insert_expert first"), beacon::value_error);
  a.insert_expert(moe::expert_init<float>::random_normal(0), beacon::as_view(std::as_const(e)));
  CHECK_THROWS_AS(a.forward(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)), beacon::as_view(out)), beacon::shape_error);
  row_matrix<float> wide(6, 5);
  CHECK_THROWS_WITH_AS(a.insert_expert(moe::expert_init<float>::random_normal(1), beacon::as_view(std::as_const(wide))),
                       doctest::Contains("batch_instance_embeddings"), beacon::shape_error);
  typename A::forward_state st;
  row_matrix<float> dout(3, 4);
  CHECK_THROWS_WITH_AS(a.backward(st, beacon::as_view(std::as_const(dout))), doctest::Contains("dout"), beacon::shape_error);
}

TEST_CASE("KV-anchor router without a projection: keys are the normalised batch means, routes the nearest key, null below the threshold") {
  using A = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::mlp_expert<activation::relu>, beacon::cpu>;
  const size_type d = 6, n = 5;
  A::config c;
  c.d_model = d;
  c.expert_hidden = 4;
  c.router.projection = moe::projection_mode::identity;
  c.router.key = moe::key_init::normalized_batch_mean;
  c.router.score = moe::score_function::cosine;
  c.router.gate = moe::gate_norm::renormalize_top_k;
  c.router.null_route = true;
  c.router.null_threshold = 0.5;
  A a(beacon::cpu{1}, c);
  // Three batches around three orthogonal directions.
  std::vector<row_matrix<float>> batches;
  for (int b = 0; b < 3; ++b) {
    row_matrix<float> e = 0.2f * random_matrix(n, d, 40 + static_cast<unsigned>(b)).cast<float>();
    e.col(b).array() += 3.0f;
    batches.push_back(e);
    a.insert_expert(moe::expert_init<float>::random_normal(static_cast<std::uint64_t>(b)), beacon::as_view(std::as_const(batches.back())));
  }
  CHECK(a.router().params().size() == 1);  // the keys only: nothing to project
  const auto keys = beacon::as_eigen(a.router().keys().value());
  for (int b = 0; b < 3; ++b) {
    const Eigen::RowVectorXf mean = batches[static_cast<std::size_t>(b)].colwise().mean();
    CHECK((keys.row(b) - mean / mean.norm()).cwiseAbs().maxCoeff() < 1e-6f);
  }
  // Every row routes to the key of largest cosine (computed here independently), a far row to none.
  row_matrix<float> probe(4, d);
  probe << batches[2].row(0), batches[0].row(3), batches[1].row(1), 0, 0, 0, 1, 0, -1;  // the last: orthogonal to the batch directions
  const auto ids = a.route_top1(beacon::as_view(std::as_const(probe)));
  for (int r = 0; r < 3; ++r) {
    Eigen::Index best = 0;
    (keys * probe.row(r).transpose() / probe.row(r).norm()).maxCoeff(&best);
    CHECK(ids[static_cast<std::size_t>(r)] == best);
  }
  CHECK(ids[0] == 2);
  CHECK(ids[3] == -1);
  // A checkpoint keeps the mode; a key width other than d_model is rejected.
  const auto path = (std::filesystem::temp_directory_path() / "beacon_identity_router.safetensors").string();
  beacon::io::save_adaptor(a, path);
  const auto b = beacon::io::load_adaptor<A>(beacon::cpu{1}, path);
  CHECK(b.settings().router.projection == moe::projection_mode::identity);
  CHECK(b.route_top1(beacon::as_view(std::as_const(probe))) == ids);
  c.key_dim = d + 1;
  CHECK_THROWS_WITH_AS(A(beacon::cpu{1}, c), doctest::Contains("key_dim"), beacon::value_error);
}
