// SPDX-License-Identifier: Apache-2.0
// The lifelong-editing library (include/beacon/edit/): ZsRE records, streams and orders, the adaptor
// editing loop on a toy host (a linear readout over answer vectors), its step reports, scores and
// routing matrix, and its argument errors.
#include <doctest/doctest.h>

#include "../support/random_matrix.hpp"

#include <beacon/backend/cpu.hpp>
#include <beacon/edit.hpp>
#include <beacon/edit/methods.hpp>
#include <beacon/moe.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

namespace edit = beacon::edit;
namespace moe = beacon::moe;
using beacon::index_type;
using beacon::row_matrix;
using beacon::size_type;
using mat = row_matrix<float>;

namespace {

/// A toy frozen host: answer a of block output h is argmax_a h . W_a; loss = mean cross-entropy.
struct linear_host {
  using scalar = float;
  mat w;  // answers x d
  [[nodiscard]] double loss(const mat& h, const std::vector<index_type>& y, mat& dh) const {
    mat p = h * w.transpose();
    double l = 0;
    for (size_type b = 0; b < p.rows(); ++b) {
      p.row(b).array() -= p.row(b).maxCoeff();
      p.row(b) = p.row(b).array().exp().matrix();
      p.row(b) /= p.row(b).sum();
      l -= std::log(static_cast<double>(p(b, y[static_cast<std::size_t>(b)])));
      p(b, y[static_cast<std::size_t>(b)]) -= 1.0f;
    }
    dh = (p * w) / static_cast<float>(h.rows());
    return l / static_cast<double>(h.rows());
  }
  [[nodiscard]] std::vector<index_type> predict(const mat& h) const {
    const mat s = h * w.transpose();
    std::vector<index_type> out(static_cast<std::size_t>(h.rows()));
    for (size_type b = 0; b < h.rows(); ++b) {
      Eigen::Index arg = 0;
      s.row(b).maxCoeff(&arg);
      out[static_cast<std::size_t>(b)] = static_cast<index_type>(arg);
    }
    return out;
  }
};
static_assert(edit::host_model<linear_host>);

edit::question_features<float> features_of(const mat& x) { return {x, x, x}; }  // e = x, h0 = x (FFN0 = 0)

struct toy {
  size_type edits = 12, d = 8, answers = 6;
  linear_host host;
  edit::edit_set<float> set;
  toy() {
    host.w = beacon_test::random_matrix(answers, d, 1).cast<float>();
    const mat src = beacon_test::random_matrix(edits, d, 2).cast<float>();
    const mat rephrase = src + 0.05f * beacon_test::random_matrix(edits, d, 3).cast<float>();
    const mat loc = beacon_test::random_matrix(edits, d, 4).cast<float>();
    set.src = features_of(src);
    set.rephrase = features_of(rephrase);
    set.loc = features_of(loc);
    const auto before = host.predict(src);
    for (size_type i = 0; i < edits; ++i) set.target.push_back((before[static_cast<std::size_t>(i)] + 1 + static_cast<index_type>(i % 3)) % static_cast<index_type>(answers));
    set.loc_answer = host.predict(loc);
  }
};

using instance_adaptor = moe::adaptor<float, moe::instance_anchor_router<moe::top_k<1>>, moe::mlp_expert<beacon::activation::relu>, beacon::cpu>;
using kv_adaptor = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::mlp_expert<beacon::activation::relu>, beacon::cpu>;

instance_adaptor::config instance_config() {
  instance_adaptor::config c;
  c.d_model = 8;
  c.expert_hidden = 16;
  c.router.threshold = 0.9;
  return c;
}

std::string write_temp(const std::string& name, const std::string& text) {
  const auto path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("edit::load_zsre reads ZsRE records, trims answers, skips empty targets and names bad records") {
  const auto good = write_temp("beacon_edit_good.json",
                               R"([{"src":"q1?","pred":" a ","rephrase":"q1 again?","alt":" b","loc":"l?","loc_ans":"c ","extra":1},
                                   {"src":"q2?","pred":"a","rephrase":"r","alt":"  ","loc":"l","loc_ans":"c"}])");
  const auto r = edit::load_zsre(good);
  REQUIRE(r.records.size() == 1);
  CHECK(r.skipped == 1);
  CHECK(r.records[0].pred == "a");
  CHECK(r.records[0].alt == "b");
  CHECK(r.records[0].loc_ans == "c");
  CHECK(r.records[0].rephrase == "q1 again?");
  const auto missing = write_temp("beacon_edit_missing.json", R"([{"src":"q","pred":"a","rephrase":"r","alt":"b","loc":"l"}])");
  CHECK_THROWS_WITH_AS(edit::load_zsre(missing), doctest::Contains("record 0 has no key 'loc_ans'"), beacon::format_error);
  const auto not_string = write_temp("beacon_edit_number.json", R"([{"src":1,"pred":"a","rephrase":"r","alt":"b","loc":"l","loc_ans":"c"}])");
  CHECK_THROWS_WITH_AS(edit::load_zsre(not_string), doctest::Contains("key 'src' is not a string"), beacon::format_error);
  CHECK_THROWS_WITH_AS(edit::load_zsre(write_temp("beacon_edit_object.json", R"({"src":"q"})")), doctest::Contains("expected a JSON array"),
                       beacon::format_error);
  CHECK_THROWS_WITH_AS(edit::load_zsre(write_temp("beacon_edit_bad.json", "[{")), doctest::Contains("not valid JSON"), beacon::format_error);
  CHECK_THROWS_AS(edit::load_zsre("/nonexistent/beacon.json"), beacon::io_error);
}

TEST_CASE("edit::split_streams and order_stream: streams of N edits, every edit in exactly one batch, planned and random") {
  const auto streams = edit::split_streams(10, 4);
  REQUIRE(streams.size() == 3);
  CHECK(streams[2] == std::vector<index_type>{8, 9});
  CHECK(edit::split_streams(10, 0).size() == 1);
  CHECK(edit::split_streams(0, 4).empty());
  const mat rows = beacon_test::random_matrix(10, 5, 9).cast<float>();
  for (const bool planned : {false, true}) {
    const auto batches = edit::order_stream(beacon::cpu{1}, streams[0], 2, edit::order_spec{planned, 7}, rows, rows);
    REQUIRE(batches.size() == 2);
    auto all = edit::flatten(batches);
    std::sort(all.begin(), all.end());
    CHECK(all == streams[0]);
  }
  // The same seed gives the same random order; another seed another.
  const auto all_edits = edit::split_streams(10, 0)[0];
  const auto a = edit::order_stream(beacon::cpu{1}, all_edits, 5, edit::order_spec{false, 1}, rows, rows);
  CHECK(a == edit::order_stream(beacon::cpu{1}, all_edits, 5, edit::order_spec{false, 1}, rows, rows));
  CHECK(a != edit::order_stream(beacon::cpu{1}, all_edits, 5, edit::order_spec{false, 2}, rows, rows));
  CHECK_THROWS_AS(edit::order_stream(beacon::cpu{1}, streams[0], 5, edit::order_spec{}, rows, rows), beacon::value_error);
}

TEST_CASE("edit::edit_with_adaptor: per-instance anchors learn every edit, route each step to its own expert, report every step") {
  toy t;
  const auto stream = edit::split_streams(t.edits, 0)[0];
  const auto batches = edit::order_stream(beacon::cpu{1}, stream, 3, edit::order_spec{false, 5}, t.set.src.e, t.set.src.x);
  instance_adaptor ad(beacon::cpu{1}, instance_config());
  edit::adaptor_run_options o;
  o.forced = true;
  o.max_iters = 400;
  o.loss_threshold = 0.05;
  long long calls = 0;
  o.progress = [&](size_type, size_type steps, long long, double) {
    CHECK(steps == 3);
    ++calls;
  };
  const auto r = edit::edit_with_adaptor(ad, t.host, t.set, batches, {}, o);
  REQUIRE(r.steps.size() == 3);
  long long iterations = 0;
  for (const auto& s : r.steps) {
    CHECK(s.reached_threshold);
    CHECK(s.final_loss < 0.05);
    CHECK(s.trained_edits == 4);
    iterations += s.iterations;
  }
  CHECK(calls == iterations);
  CHECK(ad.experts() == 3);
  CHECK(r.scores.rel == 1.0);
  CHECK(r.scores.avg == doctest::Approx((r.scores.rel + r.scores.gen + r.scores.loc) / 3));
  // Every prompt is its own anchor: the routing matrix is the identity (plus a zero null column).
  REQUIRE(r.routing.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE(r.routing[i].size() == 4);
    for (std::size_t j = 0; j < 4; ++j) CHECK(r.routing[i][j] == (i == j ? 1.0 : 0.0));
  }
  CHECK(r.routing_consistency == 1.0);
  CHECK(r.routed_src == 1.0);
}

TEST_CASE("edit::edit_with_adaptor: the iteration cap ends a step that misses the threshold, filtered edits are scored but not trained") {
  toy t;
  const auto batches = edit::order_stream(beacon::cpu{1}, edit::split_streams(t.edits, 0)[0], 2, edit::order_spec{false, 5}, t.set.src.e,
                                          t.set.src.x);
  kv_adaptor::config c;
  c.d_model = 8;
  c.expert_hidden = 16;
  c.router_rank = 4;
  kv_adaptor ad(beacon::cpu{1}, c);
  edit::adaptor_run_options o;
  o.max_iters = 2;
  o.loss_threshold = 0;  // unreachable: every step runs to the cap
  std::vector<char> trained(static_cast<std::size_t>(t.edits), 1);
  trained[static_cast<std::size_t>(batches[0][0])] = 0;
  const auto r = edit::edit_with_adaptor(ad, t.host, t.set, batches, trained, o);
  REQUIRE(r.steps.size() == 2);
  CHECK(r.steps[0].iterations == 2);
  CHECK_FALSE(r.steps[0].reached_threshold);
  CHECK(r.steps[0].trained_edits == static_cast<size_type>(batches[0].size()) - 1);
  CHECK(r.steps[1].trained_edits == static_cast<size_type>(batches[1].size()));
  double row_sum = 0;
  for (const double v : r.routing[0]) row_sum += v;
  CHECK(row_sum == doctest::Approx(1.0));
  // routing_consistency is the batch-size-weighted diagonal of the routing matrix.
  const double diagonal = (r.routing[0][0] * static_cast<double>(batches[0].size()) + r.routing[1][1] * static_cast<double>(batches[1].size())) /
                          static_cast<double>(t.edits);
  CHECK(r.routing_consistency == doctest::Approx(diagonal).epsilon(1e-12));

  // Errors: an adaptor that already has experts, a trained mask of the wrong size, a bad threshold.
  CHECK_THROWS_WITH_AS(edit::edit_with_adaptor(ad, t.host, t.set, batches, {}, o), doctest::Contains("an adaptor without experts"),
                       beacon::value_error);
  kv_adaptor fresh(beacon::cpu{1}, c);
  CHECK_THROWS_AS(edit::edit_with_adaptor(fresh, t.host, t.set, batches, std::vector<char>(3, 1), o), beacon::shape_error);
  o.loss_threshold = std::nan("");
  CHECK_THROWS_WITH_AS(edit::edit_with_adaptor(fresh, t.host, t.set, batches, {}, o), doctest::Contains("loss_threshold"), beacon::value_error);
  edit::edit_set<float> broken = t.set;
  broken.loc_answer.pop_back();
  CHECK_THROWS_WITH_AS(edit::edit_with_adaptor(fresh, t.host, broken, batches, {}, edit::adaptor_run_options{}), doctest::Contains("loc_answer"),
                       beacon::shape_error);
}

TEST_CASE("edit::editing_methods: one registry entry per method, each runs on a host and the LEMoE ones save their adaptor") {
  const auto methods = edit::editing_methods<linear_host, beacon::cpu>();
  std::vector<std::string> names;
  for (const auto& m : methods) names.push_back(m.name);
  CHECK(names == std::vector<std::string>{"moe", "lemoe-gate", "lemoe", "lemoe+plan", "lemoe+replay", "lemoe+anchors", "lemoe+anchors+plan",
                                          "lemoe+keys", "lemoe+keys+plan", "lemoe+keys+clusters", "lemoe+instance-anchors",
                                          "lemoe+instance-anchors+plan"});
  for (const auto& m : methods) CHECK(m.whole_clusters == (m.name == "lemoe+keys+clusters"));
  toy t;
  const auto batches = edit::order_stream(beacon::cpu{1}, edit::split_streams(t.edits, 0)[0], 2, edit::order_spec{false, 5}, t.set.src.e,
                                          t.set.src.x);
  edit::method_settings s;
  s.d_model = t.d;
  s.expert_hidden = 16;
  s.max_iters = 3;
  for (const auto& m : methods) {
    CAPTURE(m.name);
    const auto r = m.run(beacon::cpu{1}, t.host, t.set, batches, {}, s);
    CHECK(r.run.steps.size() == 2);
    CHECK(r.experts == 2);
    CHECK(static_cast<bool>(r.save) == (m.name.rfind("lemoe", 0) == 0 && m.name != "lemoe-gate"));
  }
  s.max_iters = 400;
  s.anchor_threshold = 0.9;
  const auto& instance = methods[10];
  const auto r = instance.run(beacon::cpu{1}, t.host, t.set, batches, {}, s);
  CHECK(r.run.scores.rel == 1.0);
  const auto path = (std::filesystem::temp_directory_path() / "beacon_edit_method.safetensors").string();
  r.save(path);
  CHECK(std::filesystem::file_size(path) > 0);
}

namespace {

/// linear_host with its FFN block exposed (edit::block_host): h0 = x + FFN0(x), so ft can tune it.
struct block_linear_host : linear_host {
  using block_expert = moe::mlp_expert<beacon::activation::relu>;
  moe::expert_parameters<float, beacon::cpu> ffn;
  [[nodiscard]] const moe::expert_parameters<float, beacon::cpu>& block() const { return ffn; }
  [[nodiscard]] moe::expert_shape block_shape() const { return {ffn[0].cols(), ffn[0].rows()}; }
  [[nodiscard]] mat ffn0(const mat& x) const {  // independent of the library's kernels: relu(x W1^T + b1) W2^T + b2
    const auto w1 = beacon::as_eigen(ffn[0].value()), b1 = beacon::as_eigen(ffn[1].value()), w2 = beacon::as_eigen(ffn[2].value()),
               b2 = beacon::as_eigen(ffn[3].value());
    const mat z = ((x * w1.transpose()).rowwise() + b1.row(0)).cwiseMax(0.0f);
    return (z * w2.transpose()).rowwise() + b2.row(0);
  }
};
static_assert(edit::block_host<block_linear_host, beacon::cpu>);
static_assert(!edit::block_host<linear_host, beacon::cpu>);

}  // namespace

TEST_CASE("edit::fine_tune_block (ft): h = h0 - FFN0(x) + FFN(x), trains each step to the threshold, registry lists ft first for block hosts") {
  toy t;
  block_linear_host host;
  host.w = t.host.w;
  const beacon::cpu be{1};
  host.ffn = block_linear_host::block_expert::make<float, beacon::cpu>(be, {t.d, 16}, "ffn0.");
  for (std::size_t i = 0; i < host.ffn.size(); ++i) moe::init_normal(be, host.ffn[i], 9, i, 0.3);
  for (auto& p : host.ffn) p.freeze();
  edit::edit_set<float> set = t.set;
  for (auto* q : {&set.src, &set.rephrase, &set.loc}) q->h0 = q->x + host.ffn0(q->x);
  set.loc_answer = host.predict(set.loc.h0);
  const auto batches = edit::order_stream(be, edit::split_streams(t.edits, 0)[0], 3, edit::order_spec{false, 2}, set.src.e, set.src.x);

  // No update: the tuned block equals the frozen one, so every answer is the unedited host's.
  edit::adaptor_run_options o;
  o.max_iters = 0;
  auto r = edit::fine_tune_block(be, host, set, batches, {}, o);
  CHECK(r.scores.loc == 1.0);
  const auto before = host.predict(set.src.h0);
  double rel0 = 0;
  for (size_type i = 0; i < t.edits; ++i) rel0 += before[static_cast<std::size_t>(i)] == set.target[static_cast<std::size_t>(i)];
  CHECK(r.scores.rel == doctest::Approx(rel0 / static_cast<double>(t.edits)));
  CHECK(r.routing.empty());
  CHECK(std::isnan(r.routing_consistency));

  o.max_iters = 2000;
  o.lr = 1e-2;
  o.loss_threshold = 0.05;
  r = edit::fine_tune_block(be, host, set, batches, {}, o);
  REQUIRE(r.steps.size() == 3);
  for (const auto& s : r.steps) {
    CHECK(s.reached_threshold);
    CHECK(s.final_loss < 0.05);
    CHECK(s.trained_edits == 4);
  }
  CHECK(r.scores.rel > rel0 / static_cast<double>(t.edits));

  const auto methods = edit::editing_methods<block_linear_host, beacon::cpu>();
  REQUIRE(methods.size() == 13);
  CHECK(methods[0].name == "ft");
  edit::method_settings s;
  s.ft_lr = 1e-2;
  s.max_iters = 2000;
  const auto m = methods[0].run(be, host, set, batches, {}, s);
  CHECK(m.run.scores.rel == r.scores.rel);  // the method is fine_tune_block with settings.ft_lr
  CHECK_FALSE(m.save);

  o.loss_threshold = std::nan("");
  CHECK_THROWS_WITH_AS(edit::fine_tune_block(be, host, set, batches, {}, o), doctest::Contains("loss_threshold"), beacon::value_error);
}
