// SPDX-License-Identifier: Apache-2.0
// The adaptor's serving path: ragged batches (sequences of different lengths in one call) against
// the Eigen oracle run sequence by sequence (outputs and accumulated gradients), a route kept from
// the prompt and reused by one-token decode steps (same bits as routing again), the arguments of
// both checked by name, and const forwards from several threads at once on one adaptor (same bits
// as one thread; the TSan build runs this case too: `make tsan`).
#include <doctest/doctest.h>

#include "../support/oracle_sync.hpp"
#include "../support/random_matrix.hpp"

#include <beacon/backend/cpu.hpp>
#include <beacon/beacon.hpp>
#include <beacon/moe.hpp>

#include <cmath>
#include <thread>
#include <utility>
#include <vector>

#include "../oracle/oracle.hpp"

namespace moe = beacon::moe;
namespace oracle = beacon::oracle;
using beacon::index_type;
using beacon::row_matrix;
using beacon::size_type;
using beacon_test::difference;
using beacon_test::random_matrix;
using beacon_test::sync;

namespace {

using A = moe::adaptor<double, moe::kv_anchor_router<moe::top_k<2>>, moe::swiglu_expert, beacon::cpu>;
using O = oracle::adaptor<double, oracle::kv_anchor_router<oracle::top_k<2>>, oracle::swiglu_expert>;
constexpr size_type d = 6, hidden = 5;

/// Every expert weight drawn anew (insertion gives experts a zero output projection: a no-op).
template <class Adaptor>
void randomize_experts(Adaptor& a, unsigned seed) {
  for (auto* p : a.parameters()) {
    if (p->name().rfind("expert", 0) != 0) continue;
    const row_matrix<double> r = random_matrix(p->rows(), p->cols(), seed++, 0.4);
    auto v = p->value();
    for (size_type i = 0; i < p->rows(); ++i)
      for (size_type j = 0; j < p->cols(); ++j) v(i, j) = static_cast<typename Adaptor::scalar>(r(i, j));
  }
}

/// Library adaptor and oracle with the same three experts (random init, trained keys/projection).
std::pair<A, O> adaptor_and_oracle() {
  A a(beacon::cpu{2}, {.d_model = d, .expert_hidden = hidden, .router_rank = 3, .key_dim = 4, .lambda = 0.7, .seed = 5});
  O o(beacon::cpu{1}, {.d_model = d, .expert_hidden = hidden, .router_rank = 3, .key_dim = 4, .lambda = 0.7, .seed = 5});
  for (int s = 0; s < 3; ++s) {
    const row_matrix<double> e = random_matrix(2, d, 10 + s) + row_matrix<double>::Constant(2, d, s);
    a.insert_expert(moe::expert_init<double>::random_normal(static_cast<std::uint64_t>(s), 0.4), beacon::as_view(e));
    o.insert_expert(oracle::expert_init<double>::random_normal(static_cast<std::uint64_t>(s), 0.4), beacon::as_view(e));
  }
  randomize_experts(a, 100);
  sync(a, o);
  return {std::move(a), std::move(o)};
}

const std::vector<index_type> lengths_offsets = {0, 3, 3, 8, 9};  // lengths 3, 0, 5, 1

}  // namespace

TEST_CASE("ragged batch: sequences of lengths 3, 0, 5, 1 in one call equal the oracle run sequence by sequence (outputs and gradients)") {
  auto [a, o] = adaptor_and_oracle();
  const auto& off = lengths_offsets;
  const size_type sequences = 4, tokens = off.back();
  const row_matrix<double> e = random_matrix(sequences, d, 21) + row_matrix<double>::Constant(sequences, d, 1.0);
  const row_matrix<double> x = random_matrix(tokens, d, 22), dout = random_matrix(tokens, d, 23);
  row_matrix<double> out(tokens, d);
  A::forward_state st;
  a.zero_grad();
  o.zero_grad();
  a.forward_train(x, off, e, out, st);
  a.backward(st, dout);
  row_matrix<double> want(tokens, d);
  for (size_type b = 0; b < sequences; ++b) {
    const auto lo = off[static_cast<std::size_t>(b)], n = off[static_cast<std::size_t>(b + 1)] - lo;
    if (n == 0) continue;
    const row_matrix<double> xb = x.middleRows(lo, n), eb = e.middleRows(b, 1), db = dout.middleRows(lo, n);
    row_matrix<double> ob(n, d);
    O::forward_state so;
    o.forward(beacon::as_view(xb), beacon::as_view(eb), beacon::as_view(ob), &so);
    o.backward(so, beacon::as_view(db));  // gradients accumulate over the sequences
    want.middleRows(lo, n) = ob;
  }
  CHECK((out - want).cwiseAbs().maxCoeff() < 1e-12);
  CHECK(out.cwiseAbs().maxCoeff() > 0.01);  // not a comparison of zeros
  CHECK(difference(a, o, true) < 1e-10);    // router projection + newest key + newest expert
  // Equal lengths through the ragged overload are the uniform call, bit for bit.
  const std::vector<index_type> even = {0, 2, 4, 6, 8};
  const row_matrix<double> x8 = x.topRows(8);
  row_matrix<double> ragged(8, d), uniform(8, d);
  a.forward(x8, even, e, ragged, st);
  a.forward(x8, e, uniform, st);
  CHECK((ragged - uniform).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("route once, reuse: a kept route gives the bits of routing again, through a decode loop where sequences finish") {
  auto [a, o] = adaptor_and_oracle();
  const auto& ca = std::as_const(a);
  const size_type sequences = 3;
  const row_matrix<double> e = random_matrix(sequences, d, 31) + row_matrix<double>::Constant(sequences, d, 0.5);
  const A::route_type kept = ca.route(e);
  CHECK(kept.rows == sequences);
  CHECK(kept.experts == 3);
  A::forward_state st;
  // The prompts (lengths 4, 2, 3), ragged, with the kept route and with routing in the call.
  const std::vector<index_type> prompts = {0, 4, 6, 9};
  const row_matrix<double> xp = random_matrix(9, d, 32);
  row_matrix<double> with_kept(9, d), routed_now(9, d);
  ca.forward(xp, prompts, kept, with_kept, st);
  ca.forward(xp, prompts, e, routed_now, st);
  CHECK((with_kept - routed_now).cwiseAbs().maxCoeff() == 0.0);
  CHECK(with_kept.cwiseAbs().maxCoeff() > 0.01);
  // Decode: one token per live sequence; sequence 1 finishes after step 1, sequence 0 after step 3.
  int live_steps = 0;
  for (int step = 0; step < 5; ++step) {
    std::vector<index_type> offsets = {0};
    for (size_type b = 0; b < sequences; ++b) {
      const bool live = !(b == 1 && step > 1) && !(b == 0 && step > 3);
      offsets.push_back(offsets.back() + (live ? 1 : 0));
    }
    const size_type rows = offsets.back();
    const row_matrix<double> xs = random_matrix(rows, d, 40 + static_cast<unsigned>(step));
    row_matrix<double> step_out(rows, d), again(rows, d);
    ca.forward(xs, offsets, kept, step_out, st);
    ca.forward(xs, offsets, e, again, st);
    CHECK((step_out - again).cwiseAbs().maxCoeff() == 0.0);
    // Each live token equals the oracle run on that token alone with its sequence's embedding.
    for (size_type b = 0; b < sequences; ++b) {
      const auto lo = offsets[static_cast<std::size_t>(b)];
      if (offsets[static_cast<std::size_t>(b + 1)] == lo) continue;
      const row_matrix<double> xt = xs.middleRows(lo, 1), eb = e.middleRows(b, 1);
      row_matrix<double> ot(1, d);
      o.forward(beacon::as_view(xt), beacon::as_view(eb), beacon::as_view(ot));
      CHECK((step_out.middleRows(lo, 1) - ot).cwiseAbs().maxCoeff() < 1e-12);
      ++live_steps;
    }
  }
  CHECK(live_steps == 4 + 2 + 5);
  // Uniform layout with a kept route: every sequence the same length.
  const row_matrix<double> xu = random_matrix(6, d, 50);
  row_matrix<double> ku(6, d), ru(6, d);
  ca.forward(xu, kept, ku, st);
  ca.forward(xu, e, ru, st);
  CHECK((ku - ru).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("serving arguments are checked by name: offsets, stale routes, backward after a kept route") {
  auto [a, o] = adaptor_and_oracle();
  (void)o;
  const row_matrix<double> e = random_matrix(2, d, 61), x = random_matrix(5, d, 62);
  row_matrix<double> out(5, d);
  A::forward_state st;
  using offsets = std::vector<index_type>;
  CHECK_THROWS_WITH_AS(a.forward(x, offsets{0, 5}, e, out, st), doctest::Contains("'sequence_offsets' expected 3 entries (e rows + 1), got 2"),
                       beacon::shape_error);
  CHECK_THROWS_WITH_AS(a.forward(x, offsets{1, 3, 5}, e, out, st), doctest::Contains("'sequence_offsets[0]' expected 0, got 1"), beacon::value_error);
  CHECK_THROWS_WITH_AS(a.forward(x, offsets{0, 3, 4}, e, out, st), doctest::Contains("'sequence_offsets[2]' expected x.rows (5), got 4"),
                       beacon::shape_error);
  CHECK_THROWS_WITH_AS(a.forward(x, offsets{0, 6, 5}, e, out, st), doctest::Contains("'sequence_offsets[2]' expected >= sequence_offsets[1] (6), got 5"),
                       beacon::value_error);
  const auto kept = std::as_const(a).route(e);
  CHECK_THROWS_WITH_AS(a.forward(x, kept, out, st), doctest::Contains("'route' expected a row count dividing x.rows (5), got 2"), beacon::shape_error);
  a.forward(x, offsets{0, 2, 5}, kept, out, st);
  CHECK_THROWS_WITH_AS(a.backward(st, x), doctest::Contains("a forward with a kept route"), beacon::value_error);
  a.insert_expert(moe::expert_init<double>::random_normal(9), e);
  CHECK_THROWS_WITH_AS(a.forward(x, offsets{0, 2, 5}, kept, out, st), doctest::Contains("route again after insert_expert"), beacon::value_error);
}

TEST_CASE("const forwards from four threads at once on one adaptor, each with its own state, give the bits of one thread") {
  // beacon::cpu{1} per adaptor here: the TSan build checks the adaptor's own sharing, and libgomp's
  // thread teams are not instrumented for TSan (cpu{2} runs in the unit build below).
  for (const int inner_threads : {1, 2}) {
    CAPTURE(inner_threads);
    using F = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<2>>, moe::swiglu_expert, beacon::cpu>;
    F a(beacon::cpu{inner_threads}, {.d_model = 32, .expert_hidden = 48, .router_rank = 8, .seed = 3});
    for (int s = 0; s < 4; ++s) {
      const row_matrix<float> e = (random_matrix(3, 32, 70 + s) + row_matrix<double>::Constant(3, 32, s)).cast<float>();
      a.insert_expert(moe::expert_init<float>::random_normal(static_cast<std::uint64_t>(s), 0.3), e);
    }
    randomize_experts(a, 200);
    const F& shared = a;
    constexpr int workers = 4, rounds = 6;
    std::vector<row_matrix<float>> xs, es, want(workers);
    std::vector<std::vector<index_type>> offsets;
    for (int w = 0; w < workers; ++w) {
      xs.push_back(random_matrix(40 + 8 * w, 32, 80 + w).cast<float>());
      es.push_back(random_matrix(4, 32, 90 + w).cast<float>());
      offsets.push_back({0, 10, 10 + 4 * w, 20 + 4 * w, 40 + 8 * w});
      want[static_cast<std::size_t>(w)].resize(xs.back().rows(), 32);
      F::forward_state st;
      shared.forward(xs.back(), offsets.back(), es.back(), want[static_cast<std::size_t>(w)], st);
    }
    std::vector<int> mismatches(workers, 0);
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w)
      pool.emplace_back([&, w] {
        const auto i = static_cast<std::size_t>(w);
        F::forward_state st;
        row_matrix<float> out(xs[i].rows(), 32);
        const auto kept = shared.route(es[i]);
        for (int r = 0; r < rounds; ++r) {
          out.setZero();
          if (r % 2 == 0) shared.forward(xs[i], offsets[i], es[i], out, st);
          else shared.forward(xs[i], offsets[i], kept, out, st);
          if ((out - want[i]).cwiseAbs().maxCoeff() != 0.0f) ++mismatches[i];
        }
      });
    for (auto& t : pool) t.join();
    for (int w = 0; w < workers; ++w) CHECK(mismatches[static_cast<std::size_t>(w)] == 0);
    CHECK(want[0].cwiseAbs().maxCoeff() > 0.01f);
  }
}
