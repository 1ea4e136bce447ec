// SPDX-License-Identifier: Apache-2.0
// Contract tests of the `beacon` command: each subcommand's JSON (parsed), CSV/SVG, error exits.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include <beacon/backend/cpu.hpp>
#include <beacon/beacon.hpp>
#include <beacon/io/adaptor_checkpoint.hpp>
#include <beacon/io/npy.hpp>
#include <beacon/moe.hpp>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/wait.h>

#include "cli_support.hpp"

using beacon_cli_test::run;
using beacon_cli_test::scratch;

TEST_CASE("schedule: JSON buffers with 17 significant digits, spot values of the spec") {
  const auto r = run("schedule --kind sqrt --steps 2000");
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["kind"] == "sqrt");
  CHECK(j["steps"] == 2000);
  for (const char* k : {"betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
                        "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2"})
    CHECK(j[k].size() == 2000);
  CHECK(j["alphas_cumprod"][1999].get<double>() == doctest::Approx(2.0204040808180702e-07).epsilon(1e-15));
  CHECK(r.out.find("0.98535868946683669") != std::string::npos);  // printed with 17 significant digits
}

TEST_CASE("schedule: info per token from a sentence or e values, CSV and SVG") {
  auto r = run("schedule --kind info --steps 10 --e 0.5351,-0.4649");
  REQUIRE(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["tokens"].size() == 2);
  CHECK(j["tokens"][0]["alphas_cumprod"][4].get<double>() == doctest::Approx(0.5 + 0.5 * 0.5351).epsilon(1e-12));
  r = run("schedule --kind info --steps 100 --sentence \"the geologist went to the school\"");
  REQUIRE(r.code == 0);
  j = nlohmann::json::parse(r.out);
  REQUIRE(j["tokens"].size() == 6);
  CHECK(j["tokens"][0]["token"] == "the");
  CHECK(j["tokens"][1]["e"].get<double>() > j["tokens"][0]["e"].get<double>());  // "geologist" is rarer than "the"
  r = run("schedule --kind cosine --steps 5 --format csv");
  REQUIRE(r.code == 0);
  CHECK(r.out.rfind("k,betas,alphas_cumprod", 0) == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 6);
  const std::string svg = scratch("s.svg");
  r = run("schedule --kind info --steps 50 --e 0.5,-0.5 --format svg --out " + svg);
  REQUIRE(r.code == 0);
  std::ifstream in(svg);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find("<svg") != std::string::npos);
  CHECK(std::count(text.begin(), text.end(), 'p') > 0);
  CHECK(text.find("polyline") != std::string::npos);
}

TEST_CASE("schedule: bad usage exits 2 with a one-line error") {
  for (const char* args : {"schedule --kind bogus", "schedule --kind linear --steps 10", "schedule --steps -3", "schedule --nope",
                           "schedule --kind sqrt --e 0.1", "frobnicate"}) {
    CAPTURE(args);
    const auto r = run(args);
    CHECK(r.code == 2);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  }
  CHECK(run("schedule --help").code == 0);
}

TEST_CASE("kmeans and plan: JSON contract, and unreadable or wrong .npy inputs exit 1") {
  std::vector<float> x;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 20; ++i) x.insert(x.end(), {float(10 * c) + 0.01f * float(i), float(-5 * c), 1.0f});
  const std::string path = scratch("x.npy");
  beacon::io::write_npy(path, x, 60, 3);
  auto r = run("kmeans --quiet --input " + path + " --k 3 --seed 2");
  REQUIRE(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["labels"].size() == 60);
  CHECK(j["centroids"].size() == 3);
  CHECK(j["centroids"][0].size() == 3);
  CHECK(j["inertia"].get<double>() >= 0);
  CHECK(j["iterations"].get<int>() >= 1);
  CHECK(j.contains("seconds"));
  r = run("plan --quiet --input " + path + " --batch 20");
  REQUIRE(r.code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["batches"].size() == 3);
  CHECK(j["within"].get<double>() > j["between"].get<double>());
  CHECK(j["kmeans"]["clusters"] == 3);
  r = run("plan --input " + path + " --batch 20 --order random --seed 4");
  REQUIRE(r.code == 0);
  CHECK(nlohmann::json::parse(r.out)["order"] == "random");
  // Computed in the file's dtype, and said so: the same points in float64 give the same clusters.
  CHECK(nlohmann::json::parse(run("kmeans --quiet --input " + path + " --k 3 --seed 2").out)["dtype"] == "float32");
  CHECK(nlohmann::json::parse(run("plan --quiet --input " + path + " --batch 20").out)["dtype"] == "float32");
  const std::string wide = scratch("x64.npy");
  beacon::io::write_npy(wide, std::vector<double>(x.begin(), x.end()), 60, 3);
  r = run("kmeans --quiet --input " + wide + " --k 3 --seed 2");
  REQUIRE(r.code == 0);
  const auto j64 = nlohmann::json::parse(r.out);
  const auto j32 = nlohmann::json::parse(run("kmeans --quiet --input " + path + " --k 3 --seed 2").out);
  CHECK(j64["dtype"] == "float64");
  CHECK(j64["labels"] == j32["labels"]);
  CHECK(j64["inertia"].get<double>() == doctest::Approx(j32["inertia"].get<double>()).epsilon(1e-5));
  CHECK(run("kmeans --input /nonexistent.npy --k 2").code == 1);
  const std::string junk = scratch("junk.npy");
  std::ofstream(junk) << "not a numpy file";
  CHECK(run("kmeans --input " + junk + " --k 2").code == 1);
  CHECK(run("kmeans --input " + path + " --k 0").code == 2);
  CHECK(run("kmeans --input " + path + " --k 61").code == 2);
  CHECK(run("plan --input " + path).code == 2);
}

TEST_CASE("inspect: experts, keys, config and checksum status of a checkpoint") {
  using A = beacon::moe::adaptor<float, beacon::moe::kv_anchor_router<beacon::moe::top_k<1>>, beacon::moe::swiglu_expert, beacon::cpu>;
  A a(beacon::cpu{1}, {.d_model = 4, .expert_hidden = 3});
  beacon::row_matrix<float> e = beacon::row_matrix<float>::Random(2, 4);
  a.insert_expert(beacon::moe::expert_init<float>::random_normal(1), beacon::as_view(std::as_const(e)));
  a.insert_expert(beacon::moe::expert_init<float>::random_normal(2), beacon::as_view(std::as_const(e)));
  const std::string path = scratch("a.safetensors");
  beacon::io::save_adaptor(a, path);
  auto r = run("inspect --json " + path);
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["experts"] == 2);
  CHECK(j["checksum"]["status"] == "ok");
  CHECK(j["keys"].size() == 2);
  CHECK(j["keys"][0]["frozen"] == true);
  CHECK(j["keys"][1]["frozen"] == false);
  CHECK(j["config"]["d_model"] == 4);
  r = run("inspect " + path);
  CHECK(r.code == 0);
  CHECK(r.out.find("checksum ok") != std::string::npos);
  // Flip a data byte: inspect reports the mismatch and exits 1.
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(-2, std::ios::end);
  f.put('\x7f');
  f.close();
  r = run("inspect " + path);
  CHECK(r.code == 1);
  CHECK(r.out.find("mismatch") != std::string::npos);
  CHECK(run("inspect /nonexistent.safetensors").code == 1);
}

TEST_CASE("edit-bench: metrics in [0, 1], deterministic for a seed, SVG and checkpoint") {
  const std::string j1 = scratch("eb1.json"), j2 = scratch("eb2.json"), svg = scratch("eb.svg"), ckpt = scratch("eb.safetensors");
  const std::string args = "edit-bench --quiet --edits 50 --steps 2 --methods ft,moe,lemoe,lemoe+anchors --max-iters 40 --seed 3";
  auto r = run(args + " --json " + j1 + " --svg " + svg + " --save " + ckpt);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("lemoe+anchors") != std::string::npos);  // the table
  std::ifstream in1(j1);
  const auto a = nlohmann::json::parse(in1);
  CHECK(a["config"]["edits"] == 50);
  CHECK(a["config"]["steps"] == 2);
  CHECK(a["base_accuracy"].get<double>() >= 0);
  CHECK(a["base_accuracy"].get<double>() <= 1);
  REQUIRE(a["results"].size() == 4);
  for (const auto& res : a["results"]) {
    CAPTURE(res.dump());
    for (const char* k : {"rel", "gen", "loc", "avg"}) {
      CHECK(res[k].get<double>() >= 0);
      CHECK(res[k].get<double>() <= 1);
    }
    CHECK(res["avg"].get<double>() == doctest::Approx((res["rel"].get<double>() + res["gen"].get<double>() + res["loc"].get<double>()) / 3));
    if (res["method"] == "ft") CHECK(res["routing_consistency"].is_null());
    else {
      CHECK(res["routing_consistency"].get<double>() >= 0);
      CHECK(res["routing_consistency"].get<double>() <= 1);
    }
    CHECK(res["seconds"].get<double>() >= 0);
    CHECK(res.contains("order"));
  }
  // Same seed twice: identical results apart from the timings.
  r = run(args + " --json " + j2);
  REQUIRE(r.code == 0);
  std::ifstream in2(j2);
  const auto b = nlohmann::json::parse(in2);
  REQUIRE(b["results"].size() == a["results"].size());
  CHECK(a["base_accuracy"] == b["base_accuracy"]);
  for (std::size_t i = 0; i < a["results"].size(); ++i) {
    auto x = a["results"][i], y = b["results"][i];
    x.erase("seconds"), x.erase("total_seconds"), y.erase("seconds"), y.erase("total_seconds");
    CHECK(x == y);
  }
  // The routing matrix of each adaptor result: one per stream, steps x (experts + 1), rows summing to
  // 1, its size-weighted diagonal equal to the routing consistency.
  for (const auto& res : a["results"]) {
    CAPTURE(res["method"]);
    if (res["method"] == "ft") {
      CHECK(res["routing_matrix"].is_null());
      continue;
    }
    REQUIRE(res["routing_matrix"].size() == 1);
    const auto& c = res["routing_matrix"][0];
    REQUIRE(c.size() == 2);
    double diagonal = 0;
    for (std::size_t i = 0; i < 2; ++i) {
      REQUIRE(c[i].size() == 3);
      double row = 0;
      for (const auto& v : c[i]) row += v.get<double>();
      CHECK(row == doctest::Approx(1.0));
      diagonal += c[i][i].get<double>() * 25;  // 50 edits in 2 steps of 25
    }
    CHECK(diagonal / 50 == doctest::Approx(res["routing_consistency"].get<double>()));
  }
  std::ifstream s(svg);
  const std::string text((std::istreambuf_iterator<char>(s)), std::istreambuf_iterator<char>());
  CHECK(text.find("<svg") != std::string::npos);
  CHECK(text.find("<rect") != std::string::npos);
  r = run("inspect --json " + ckpt);
  REQUIRE(r.code == 0);
  CHECK(nlohmann::json::parse(r.out)["experts"] == 2);
  // Rollback protocol: two streams of 25 edits, planned order.
  r = run("edit-bench --quiet --edits 50 --steps 2 --chunk 25 --methods ft,lemoe+anchors+plan --max-iters 20 --json " + j2);
  REQUIRE(r.code == 0);
  std::ifstream in3(j2);
  const auto c = nlohmann::json::parse(in3);
  CHECK(c["config"]["chunk"] == 25);
  CHECK(c["config"]["streams"] == 2);
  REQUIRE(c["results"].size() == 2);
  CHECK(c["results"][1]["order"] == "planned");
  CHECK(c["results"][1]["iterations"].size() == 4);
  for (const auto& res : c["results"])
    for (const char* k : {"rel", "gen", "loc", "avg"}) {
      CHECK(res[k].get<double>() >= 0);
      CHECK(res[k].get<double>() <= 1);
    }
}

TEST_CASE("edit-bench: a --data record missing a key exits 1 naming it, bad usage exits 2") {
  const std::string data = scratch("zsre.json");
  std::ofstream(data) << R"([{"src": "who made x?", "pred": "a", "rephrase": "x was made by?", "alt": "b", "loc": "nq question: y", "loc_ans": "c", "extra": 1},
                             {"src": "who made z?", "pred": "a", "rephrase": "z was made by?", "loc": "nq question: w", "loc_ans": "d"}])";
  auto r = run("edit-bench --quiet --data " + data);
  CHECK(r.code == 1);
  CHECK(r.out.find("record 1") != std::string::npos);
  CHECK(r.out.find("'alt'") != std::string::npos);
  const std::string junk = scratch("junk.json");
  std::ofstream(junk) << "{not json";
  CHECK(run("edit-bench --quiet --data " + junk).code == 1);
  CHECK(run("edit-bench --quiet --methods ft,bogus").code == 2);
  CHECK(run("edit-bench --quiet --edits 0").code == 2);
  CHECK(run("edit-bench --quiet --edits 10 --steps 20").code == 2);
  CHECK(run("edit-bench --quiet --data /nonexistent.json").code == 1);
}

TEST_CASE("edit-bench: replay and instance-anchor methods, the latter's checkpoint loads and inspect counts its anchors") {
  const std::string j = scratch("ia.json"), ckpt = scratch("ia.safetensors");
  auto r = run("edit-bench --quiet --edits 40 --steps 2 --methods lemoe+replay,lemoe+instance-anchors,lemoe+instance-anchors+plan --max-iters 20"
               " --anchor-threshold 0.55 --json " + j + " --save " + ckpt);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("saved the final lemoe+instance-anchors+plan adaptor (2 experts)") != std::string::npos);
  std::ifstream in(j);
  const auto a = nlohmann::json::parse(in);
  CHECK(a["config"]["anchor_threshold"] == 0.55);
  REQUIRE(a["results"].size() == 3);
  CHECK(a["results"][0]["method"] == "lemoe+replay");
  CHECK(a["results"][2]["order"] == "planned");
  for (const auto& res : a["results"])
    for (const char* k : {"rel", "gen", "loc", "avg", "routing_consistency"}) {
      CHECK(res[k].get<double>() >= 0);
      CHECK(res[k].get<double>() <= 1);
    }
  r = run("inspect --json " + ckpt);
  REQUIRE(r.code == 0);
  const auto info = nlohmann::json::parse(r.out);
  CHECK(info["adaptor"] == "F32 instance_anchor<k=1> mlp<activation=relu>");
  CHECK(info["anchors"]["count"] == 40);
  CHECK(info["anchors"]["per_expert"] == nlohmann::json::array({20, 20}));
  CHECK(info["config"]["router"]["threshold"] == 0.55);
  // The file loads as the library type (anchors validated on load).
  using I = beacon::moe::adaptor<float, beacon::moe::instance_anchor_router<beacon::moe::top_k<1>>, beacon::moe::mlp_expert<beacon::activation::relu>, beacon::cpu>;
  const I loaded = beacon::io::load_adaptor<I>(beacon::cpu{1}, ckpt);
  CHECK(loaded.experts() == 2);
  CHECK(loaded.router().anchor_count() == 40);
}

TEST_CASE("edit-bench --loss semantic: the semantic re-weighted loss trains, the d0 filter leaves edits out of training") {
  const std::string j = scratch("sem.json"), jce = scratch("sem_ce.json"), ckpt = scratch("sem.safetensors");
  const std::string common = "edit-bench --quiet --edits 50 --steps 2 --methods ft,lemoe+instance-anchors --max-iters 20 --seed 5";
  auto r = run(common + " --loss semantic --filter-fraction 0.2 --json " + j + " --save " + ckpt);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("trains on 40 of 50 edits") != std::string::npos);
  std::ifstream in(j);
  const auto a = nlohmann::json::parse(in);
  CHECK(a["config"]["loss"] == "semantic");
  CHECK(a["config"]["filter"]["kept"] == 40);
  CHECK(a["config"]["filter"]["mean_d0_after"].get<double>() <= a["config"]["filter"]["mean_d0_before"].get<double>());
  REQUIRE(a["results"].size() == 2);
  for (const auto& res : a["results"])
    for (const char* k : {"rel", "gen", "loc", "avg"}) {
      CHECK(res[k].get<double>() >= 0);
      CHECK(res[k].get<double>() <= 1);
    }
  // Only the trained edits become anchors of the instance router.
  r = run("inspect --json " + ckpt);
  REQUIRE(r.code == 0);
  CHECK(nlohmann::json::parse(r.out)["anchors"]["count"] == 40);
  // Without filtering the semantic loss still differs from plain CE (the weights change the updates).
  REQUIRE(run(common + " --loss semantic --filter-fraction 0 --json " + j).code == 0);
  REQUIRE(run(common + " --json " + jce).code == 0);
  std::ifstream in_sem(j), in_ce(jce);
  const auto sem = nlohmann::json::parse(in_sem), ce = nlohmann::json::parse(in_ce);
  CHECK(sem["config"]["filter"]["kept"] == 50);
  CHECK(ce["config"]["filter"].is_null());
  CHECK(sem["results"][0]["final_loss"] != ce["results"][0]["final_loss"]);
  // Bad values.
  CHECK(run("edit-bench --quiet --loss focal").code == 2);
  CHECK(run("edit-bench --quiet --loss semantic --filter-fraction 1.5").code == 2);
  r = run("edit-bench --quiet --edits 20 --steps 2 --methods ft --loss semantic --filter-fraction 1");
  CHECK(r.code == 2);
  CHECK(r.out.find("--filter-fraction") != std::string::npos);
}

TEST_CASE("edit-bench --threads: 1 and 2 threads give the same metrics, losses within 1e-4 (GEMM sums in float)") {
  const std::string args = "edit-bench --quiet --edits 50 --steps 2 --methods ft,moe,lemoe,lemoe+instance-anchors --max-iters 40 --seed 3";
  nlohmann::json out[2];
  for (int t = 1; t <= 2; ++t) {
    const std::string path = scratch("eb_threads" + std::to_string(t) + ".json");
    const auto r = run(args + " --threads " + std::to_string(t) + " --json " + path);
    REQUIRE(r.code == 0);
    std::ifstream in(path);
    out[t - 1] = nlohmann::json::parse(in);
    CHECK(out[t - 1]["config"]["threads"] == t);
  }
  CHECK(out[0]["base_accuracy"] == out[1]["base_accuracy"]);
  REQUIRE(out[0]["results"].size() == out[1]["results"].size());
  for (std::size_t i = 0; i < out[0]["results"].size(); ++i) {
    auto x = out[0]["results"][i], y = out[1]["results"][i];
    CAPTURE(x["method"]);
    // Eigen's GEMM blocks by thread count, so float sums round differently; the metrics, routes and
    // iteration counts do not move, the final losses by at most 1e-4 relative.
    for (const char* k : {"rel", "gen", "loc", "avg", "routing_consistency", "routing_matrix", "iterations"}) CHECK(x[k] == y[k]);
    const auto& lx = x["final_loss"];
    const auto& ly = y["final_loss"];
    REQUIRE(lx.size() == ly.size());
    for (std::size_t k = 0; k < lx.size(); ++k)
      CHECK(std::abs(lx[k].get<double>() - ly[k].get<double>()) <= 1e-4 * std::max(1e-6, std::abs(lx[k].get<double>())));
  }
}

TEST_CASE("edit-bench --host transformer: a contextual host that learns the facts, every method runs on it, deterministic for a seed") {
  const std::string args = "edit-bench --quiet --host transformer --host-dim 32 --heads 2 --edits 40 --steps 2 --methods ft,lemoe,lemoe+instance-anchors "
                           "--max-iters 30 --seed 4 --threads 2";
  nlohmann::json out[2];
  for (int i = 0; i < 2; ++i) {
    const std::string path = scratch("eb_tf" + std::to_string(i) + ".json");
    const auto r = run(args + " --json " + path);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("Transformer encoder, 2 layers, 2 heads") != std::string::npos);
    std::ifstream in(path);
    out[i] = nlohmann::json::parse(in);
  }
  const auto& c = out[0]["config"];
  CHECK(c["host"] == "transformer");
  CHECK(c["d"] == 32);
  CHECK(c["ffn_hidden"] == 128);  // 4 d
  CHECK(c["layers"] == 2);
  CHECK(out[0]["base_accuracy"].get<double>() >= 0.9);  // pre-training learned the original facts
  REQUIRE(out[0]["results"].size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& x = out[0]["results"][i];
    CAPTURE(x["method"]);
    for (const char* k : {"rel", "gen", "loc", "avg"}) {
      CHECK(x[k].get<double>() >= 0);
      CHECK(x[k].get<double>() <= 1);
      CHECK(x[k] == out[1]["results"][i][k]);  // same seed and threads: same results
    }
    CHECK(x["final_loss"] == out[1]["results"][i]["final_loss"]);
  }
  CHECK(out[0]["results"][0]["routing_consistency"].is_null());  // ft has no router
  CHECK(out[0]["results"][2]["rel"].get<double>() >= 0.9);       // instance anchors edit the contextual host
}

TEST_CASE("edit-bench lemoe+keys+clusters: one key per expert holds its batches when the batches are whole k-means clusters") {
  const std::string j = scratch("eb_keys.json");
  const auto r = run("edit-bench --quiet --edits 120 --steps 4 --methods lemoe+keys,lemoe+keys+clusters --max-iters 60 --seed 2 --json " + j);
  REQUIRE(r.code == 0);
  std::ifstream in(j);
  const auto js = nlohmann::json::parse(in);
  REQUIRE(js["results"].size() == 2);
  const auto& random = js["results"][0];
  const auto& clusters = js["results"][1];
  CHECK(clusters["order"] == "clusters");
  CHECK(clusters["routing_consistency"].get<double>() >= 0.9);
  CHECK(random["routing_consistency"].get<double>() < clusters["routing_consistency"].get<double>());
  std::size_t edits = 0;
  for (const auto& it : clusters["iterations"]) edits += it.is_number() ? 1 : 0;
  CHECK(edits == clusters["routing_matrix"][0].size());  // one routing row per (cluster) step
}

TEST_CASE("edit-bench: --host-dim sets the width (FFN 4x), bad host options and impossible --edits exit with the accepted range") {
  const std::string j = scratch("eb_dim.json");
  auto r = run("edit-bench --quiet --host-dim 64 --edits 20 --steps 2 --methods lemoe --max-iters 5 --json " + j);
  REQUIRE(r.code == 0);
  std::ifstream in(j);
  const auto js = nlohmann::json::parse(in);
  CHECK(js["config"]["host"] == "bow");
  CHECK(js["config"]["d"] == 64);
  CHECK(js["config"]["ffn_hidden"] == 256);
  CHECK(run("edit-bench --quiet --host bogus").code == 2);
  CHECK(run("edit-bench --quiet --threads 0").code == 2);
  CHECK(run("edit-bench --quiet --host-dim 0").code == 2);
  r = run("edit-bench --quiet --host transformer --host-dim 30 --heads 4 --edits 10 --steps 2");
  CHECK(r.code == 2);
  CHECK(r.out.find("--heads") != std::string::npos);
  r = run("edit-bench --quiet --edits 250000 --steps 2");  // beyond the embedded generator: an error, not a hang
  CHECK(r.code == 2);
  CHECK(r.out.find("--edits") != std::string::npos);
  CHECK(r.out.find("200000") != std::string::npos);
  const std::string data = scratch("zsre3.json");
  std::ofstream(data) << R"([{"src": "who made x?", "pred": "a", "rephrase": "x was made by?", "alt": "b", "loc": "nq question: y", "loc_ans": "c"},
                             {"src": "who made z?", "pred": "a", "rephrase": "z was made by?", "alt": "e", "loc": "nq question: w", "loc_ans": "d"}])";
  r = run("edit-bench --quiet --data " + data + " --edits 5 --steps 1");
  CHECK(r.code == 1);
  CHECK(r.out.find("at most the 2 usable records") != std::string::npos);
  CHECK(run("edit-bench --quiet --data " + data + " --steps 1 --methods lemoe --max-iters 2").code == 0);  // default --edits: all records
}

TEST_CASE("--version: the command, the headers and the CMake package agree on the version") {
  const auto r = run("--version");
  CHECK(r.code == 0);
  CHECK(r.out == std::string("beacon ") + BEACON_VERSION_STRING + "\n");
  CHECK(std::string(BEACON_VERSION_STRING) == BEACON_PROJECT_VERSION);  // CMake's project(VERSION)
}
