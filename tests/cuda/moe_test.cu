// SPDX-License-Identifier: Apache-2.0
// The one LEMoE adaptor on beacon::cuda against the same adaptor on beacon::cpu (the oracle;
// tests/cpu/moe_adaptor_test.cpp ties the CPU adaptor to the Eigen oracle under tests/oracle): every
// router x expert combination through insertion, training steps (AdamW), forward, backward and
// checkpoints saved on one backend and loaded on the other; plus the dense-layer primitives and
// AdamW step the experts are built from. Every scenario is one function template over the backend.
#include "support.cuh"

#include <beacon/backend/transfer.hpp>
#include <beacon/io/adaptor_checkpoint.hpp>
#include <beacon/moe.hpp>

#include <cstdio>
#include <filesystem>

#include <algorithm>
#include <utility>

using namespace beacon_test;
namespace moe = beacon::moe;
using beacon::matrix_view;
using beacon::vector_view;

namespace {

const beacon::cpu& host_backend() {
  static const beacon::cpu be{2};
  return be;
}
// One CUDA backend for the whole file (creating one costs a cuBLAS handle).
const beacon::cuda& device_backend() {
  static const auto* be = new beacon::cuda();
  return *be;
}

template <class B, class T>
auto put(const B& be, const std::vector<T>& host) {
  auto buffer = beacon::make_buffer<T>(be, static_cast<size_type>(host.size()));
  beacon::upload(be, host, buffer.view());
  return buffer;
}
template <class Buffer>
auto mat(Buffer& b, size_type rows, size_type cols) {
  return b.matrix(rows, cols);
}
template <class Buffer>
auto cmat(const Buffer& b, size_type rows, size_type cols) {
  return b.matrix(rows, cols);
}
template <class Buffer>
auto cvec(const Buffer& b) {
  return b.view();
}
template <class B, class V>
auto get(const B& be, V view) {
  return beacon::download(be, view);
}

template <class T>
double tol() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

/// Same ids everywhere; values within tolerance (got = CUDA, want = CPU).
template <class T>
void check_close(const std::vector<T>& got, const std::vector<T>& want, double atol, double rtol, const char* what) {
  CAPTURE(what);
  REQUIRE(got.size() == want.size());
  CHECK(tolerance_ratio(got, want, atol, rtol) <= 1.0);
}

// ---- dense-layer primitives ----------------------------------------------------------------------

template <class T, class B>
std::vector<std::vector<T>> run_dense_layer(const B& be, beacon::activation act, size_type rows, size_type cols, bool with_bias) {
  const size_type ld = cols + 3;  // z is a padded view: the kernels honour the leading dimension
  auto z = put(be, random_values<T>(rows * ld, 1, T(-3), T(3)));
  auto bias = put(be, with_bias ? random_values<T>(cols, 2) : std::vector<T>{});
  auto other = put(be, random_values<T>(rows * cols, 3, T(-2), T(2)));
  auto dy = put(be, random_values<T>(rows * cols, 4));
  auto sums = put(be, random_values<T>(cols, 5));
  auto a = beacon::make_buffer<T>(be, rows * cols), dz = beacon::make_buffer<T>(be, rows * cols), u = beacon::make_buffer<T>(be, rows * cols),
       da = beacon::make_buffer<T>(be, rows * cols), db = beacon::make_buffer<T>(be, rows * cols);
  const matrix_view<T, typename B::memory_space> zv(z.view().data(), rows, cols, ld);
  const matrix_view<const T, typename B::memory_space> zc(zv);
  beacon::bias_activation(be, act, cvec(bias), zv, mat(a, rows, cols));
  beacon::activation_backward(be, act, zc, cmat(dy, rows, cols), mat(dz, rows, cols));
  beacon::gated_activation(be, act, zc, cmat(other, rows, cols), mat(u, rows, cols));
  beacon::gated_activation_backward(be, act, zc, cmat(other, rows, cols), cmat(dy, rows, cols), mat(da, rows, cols), mat(db, rows, cols));
  beacon::add_column_sums(be, cmat(dy, rows, cols), sums.view());
  return {get(be, zc), get(be, cmat(a, rows, cols)), get(be, cmat(dz, rows, cols)), get(be, cmat(u, rows, cols)),
          get(be, cmat(da, rows, cols)), get(be, cmat(db, rows, cols)), get(be, cvec(sums))};
}

template <class T>
void check_dense_layer() {
  for (const auto act : {beacon::activation::relu, beacon::activation::silu, beacon::activation::gelu, beacon::activation::identity})
    for (const auto& [rows, cols] : {std::pair<size_type, size_type>{37, 70}, {1, 300}, {300, 1}, {0, 5}}) {
      CAPTURE(static_cast<int>(act));
      CAPTURE(rows);
      CAPTURE(cols);
      const auto want = run_dense_layer<T>(host_backend(), act, rows, cols, rows % 2 == 1);
      const auto got = run_dense_layer<T>(device_backend(), act, rows, cols, rows % 2 == 1);
      const char* names[] = {"z + bias", "act(z)", "activation_backward", "gated_activation", "gated da", "gated db", "column sums"};
      for (std::size_t i = 0; i < want.size(); ++i) check_close(got[i], want[i], tol<T>(), tol<T>(), names[i]);
    }
}

// ---- AdamW step ----------------------------------------------------------------------------------

template <class T, class B>
std::vector<std::vector<T>> run_adamw(const B& be, size_type n) {
  auto value = put(be, random_values<T>(n, 11)), grad = put(be, random_values<T>(n, 12)), m = put(be, random_values<T>(n, 13, T(0), T(1))),
       v = put(be, random_values<T>(n, 14, T(0), T(1)));
  beacon::adamw opt;
  opt.lr = 0.01;
  for (int s = 0; s < 3; ++s) {
    opt.next_step();
    beacon::adamw_step(be, opt.coefficients(), value.view(), cvec(grad), m.view(), v.view());
  }
  return {get(be, cvec(value)), get(be, cvec(m)), get(be, cvec(v))};
}

// ---- the adaptor on both backends ----------------------------------------------------------------

template <class T>
struct scenario {
  size_type d = 6, hidden = 5, batch = 3, length = 2;
  std::vector<std::vector<T>> e, x, target;  // per editing step
  std::vector<T> probe_e, probe_x, probe_dout;
};

template <class T>
scenario<T> make_scenario(size_type length) {
  scenario<T> s;
  s.length = length;
  for (int step = 0; step < 3; ++step) {
    auto e = random_values<T>(s.batch * s.d, 100 + step);
    for (auto& v : e) v += T(step);
    s.e.push_back(e);
    s.x.push_back(random_values<T>(s.batch * length * s.d, 200 + step));
    s.target.push_back(random_values<T>(s.batch * length * s.d, 300 + step));
  }
  s.probe_e = random_values<T>(4 * s.d, 7);
  for (auto& v : s.probe_e) v += T(1);
  s.probe_x = random_values<T>(4 * length * s.d, 8);
  s.probe_dout = random_values<T>(4 * length * s.d, 9);
  return s;
}

struct adaptor_run {
  std::vector<std::vector<double>> values, grads;  ///< every parameter after training, and its gradient at the probe
  std::vector<double> out;                         ///< the probe's forward output
  std::vector<index_type> top1;
};

template <class V>
std::vector<double> as_double(const V& v) {
  return std::vector<double>(v.begin(), v.end());
}

/// Three editing steps (insert, three AdamW steps each with forced or by-score routing), then a
/// forward and backward of the probe rows, on backend `be`.
template <class A, class B, class T>
adaptor_run run_adaptor(const B& be, A& a, const scenario<T>& s, bool forced) {
  using space = typename B::memory_space;
  beacon::adamw opt;
  opt.lr = 0.05;
  const size_type tokens = s.batch * s.length;
  for (int step = 0; step < 3; ++step) {
    auto e = put(be, s.e[static_cast<std::size_t>(step)]), x = put(be, s.x[static_cast<std::size_t>(step)]),
         target = put(be, s.target[static_cast<std::size_t>(step)]);
    a.insert_expert(moe::expert_init<T, space>::random_normal(static_cast<std::uint64_t>(step), 0.3), cmat(e, s.batch, s.d));
    const typename A::loss_function loss = [&](matrix_view<const T, space> out, matrix_view<T, space> dout) {
      beacon::axpby(be, T(1), out, T(-1), cmat(target, tokens, s.d), dout);
      return 0.0;
    };
    for (int it = 0; it < 3; ++it) a.train_step(cmat(x, tokens, s.d), cmat(e, s.batch, s.d), loss, opt, forced ? step : -1);
  }
  adaptor_run r;
  auto e = put(be, s.probe_e), x = put(be, s.probe_x), dout = put(be, s.probe_dout);
  auto out = beacon::make_buffer<T>(be, 4 * s.length * s.d);
  typename A::forward_state st;
  a.zero_grad();
  a.forward(cmat(x, 4 * s.length, s.d), cmat(e, 4, s.d), mat(out, 4 * s.length, s.d), st);
  a.backward(st, cmat(dout, 4 * s.length, s.d));
  r.out = as_double(get(be, cmat(out, 4 * s.length, s.d)));
  for (auto* p : a.parameters()) {
    r.values.push_back(as_double(get(be, p->value_vector())));
    r.grads.push_back(p->trainable() ? as_double(get(be, matrix_view<const T, space>(p->grad()))) : std::vector<double>{});
  }
  r.top1 = a.route_top1(cmat(e, 4, s.d));
  return r;
}

template <class Router, class Expert, class T>
void check_adaptor(const char* label, const typename Router::options& ro, size_type length, bool forced) {
  CAPTURE(label);
  using AC = moe::adaptor<T, Router, Expert, beacon::cpu>;
  using AG = moe::adaptor<T, Router, Expert, beacon::cuda>;
  const auto s = make_scenario<T>(length);
  typename AC::config cc{.d_model = s.d, .expert_hidden = s.hidden, .router_rank = 3, .key_dim = 4, .lambda = 0.7, .router = ro, .seed = 11};
  typename AG::config cg{.d_model = s.d, .expert_hidden = s.hidden, .router_rank = 3, .key_dim = 4, .lambda = 0.7, .router = ro, .seed = 11};
  AC c(host_backend(), cc);
  AG g(device_backend(), cg);
  const auto want = run_adaptor(host_backend(), c, s, forced);
  const auto got = run_adaptor(device_backend(), g, s, forced);
  const double t = 200 * tol<T>();  // three training steps of rounding differences (fused multiply-adds, cuBLAS order)
  check_close(got.out, want.out, t, t, "probe forward");
  CHECK(std::any_of(want.out.begin(), want.out.end(), [](double v) { return v != 0; }));
  REQUIRE(got.values.size() == want.values.size());
  for (std::size_t i = 0; i < want.values.size(); ++i) {
    check_close(got.values[i], want.values[i], t, t, "parameter values after training");
    check_close(got.grads[i], want.grads[i], t, t, "gradients at the probe");
  }
  CHECK(got.top1 == want.top1);

  // One layout: a checkpoint saved from either backend loads on the other with the same outputs.
  const auto dir = std::filesystem::temp_directory_path();
  const std::string from_gpu = (dir / "beacon-cuda-ckpt-g.safetensors").string(), from_cpu = (dir / "beacon-cuda-ckpt-c.safetensors").string();
  beacon::io::save_adaptor(g, from_gpu);
  beacon::io::save_adaptor(c, from_cpu);
  const AC on_cpu = beacon::io::load_adaptor<AC>(host_backend(), from_gpu);
  const AG on_gpu = beacon::io::load_adaptor<AG>(device_backend(), from_cpu);
  const auto pc = on_cpu.parameters();
  const auto pg = g.parameters();
  REQUIRE(pc.size() == pg.size());
  for (std::size_t i = 0; i < pc.size(); ++i) {
    CHECK(pc[i]->frozen_rows() == pg[i]->frozen_rows());
    CHECK(as_double(get(host_backend(), pc[i]->value_vector())) == as_double(get(device_backend(), pg[i]->value_vector())));
  }
  CHECK(on_gpu.experts() == c.experts());
  std::remove(from_gpu.c_str());
  std::remove(from_cpu.c_str());
}

template <class Router, class T>
void check_every_expert(const char* label, const typename Router::options& ro, size_type length, bool forced) {
  check_adaptor<Router, moe::swiglu_expert, T>(label, ro, length, forced);
  check_adaptor<Router, moe::mlp_expert<beacon::activation::gelu>, T>(label, ro, length, forced);
  check_adaptor<Router, moe::lora_expert<3, beacon::activation::relu>, T>(label, ro, length, forced);
}

/// The serving path on backend `be` (issue 19): a ragged forward + backward (lengths 3, 0, 5, 1) and
/// one decode step (lengths 1, 0, 1, 1) with a route kept from route(e), and the same step routed
/// again (which must give the kept route's bits on one backend).
struct serving_run {
  std::vector<double> ragged_out, step_kept, step_again;
  std::vector<std::vector<double>> grads;
};

template <class A, class B, class T>
serving_run run_serving(const B& be, A& a, const scenario<T>& s) {
  using space = typename B::memory_space;
  for (int step = 0; step < 3; ++step) {
    auto e = put(be, s.e[static_cast<std::size_t>(step)]);
    a.insert_expert(moe::expert_init<T, space>::random_normal(static_cast<std::uint64_t>(step), 0.3), cmat(e, s.batch, s.d));
  }
  const std::vector<index_type> ragged{0, 3, 3, 8, 9}, step{0, 1, 1, 2, 3};
  auto e = put(be, s.probe_e), x = put(be, random_values<T>(9 * s.d, 21)), dout = put(be, random_values<T>(9 * s.d, 22));
  auto out = beacon::make_buffer<T>(be, 9 * s.d), kept_out = beacon::make_buffer<T>(be, 3 * s.d), again_out = beacon::make_buffer<T>(be, 3 * s.d);
  typename A::forward_state st;
  serving_run r;
  a.zero_grad();
  a.forward(cmat(x, 9, s.d), ragged, cmat(e, 4, s.d), mat(out, 9, s.d), st);
  a.backward(st, cmat(dout, 9, s.d));
  r.ragged_out = as_double(get(be, cmat(out, 9, s.d)));
  for (auto* p : a.parameters())
    r.grads.push_back(p->trainable() ? as_double(get(be, matrix_view<const T, space>(p->grad()))) : std::vector<double>{});
  const auto kept = a.route(cmat(e, 4, s.d));
  a.forward(cmat(x, 3, s.d), step, kept, mat(kept_out, 3, s.d), st);
  a.forward(cmat(x, 3, s.d), step, cmat(e, 4, s.d), mat(again_out, 3, s.d), st);
  r.step_kept = as_double(get(be, cmat(kept_out, 3, s.d)));
  r.step_again = as_double(get(be, cmat(again_out, 3, s.d)));
  return r;
}

template <class Router, class T>
void check_serving(const char* label, const typename Router::options& ro) {
  CAPTURE(label);
  using AC = moe::adaptor<T, Router, moe::swiglu_expert, beacon::cpu>;
  using AG = moe::adaptor<T, Router, moe::swiglu_expert, beacon::cuda>;
  const auto s = make_scenario<T>(2);
  AC c(host_backend(), {.d_model = s.d, .expert_hidden = s.hidden, .router_rank = 3, .key_dim = 4, .router = ro, .seed = 5});
  AG g(device_backend(), {.d_model = s.d, .expert_hidden = s.hidden, .router_rank = 3, .key_dim = 4, .router = ro, .seed = 5});
  const auto want = run_serving(host_backend(), c, s);
  const auto got = run_serving(device_backend(), g, s);
  const double t = 20 * tol<T>();
  check_close(got.ragged_out, want.ragged_out, t, t, "ragged forward");
  CHECK(std::any_of(want.ragged_out.begin(), want.ragged_out.end(), [](double v) { return v != 0; }));
  REQUIRE(got.grads.size() == want.grads.size());
  for (std::size_t i = 0; i < want.grads.size(); ++i) check_close(got.grads[i], want.grads[i], t, t, "ragged gradients");
  check_close(got.step_kept, want.step_kept, t, t, "decode step with a kept route");
  CHECK(got.step_kept == got.step_again);  // one backend: a kept route is exactly routing again
}

}  // namespace

TEST_CASE("moe on CUDA: the serving path (ragged batch, kept route in a decode step) agrees with the CPU") {
  check_serving<moe::kv_anchor_router<moe::top_k<2>>, float>("kv<2>", {});
  moe::instance_anchor_options o;
  o.threshold = 0.2;
  check_serving<moe::instance_anchor_router<moe::top_k<1>>, double>("instance<1>", o);
}

TEST_CASE("moe on CUDA: bias + activation, activation backward, gated activation and column sums agree with the CPU") {
  check_dense_layer<float>();
  check_dense_layer<double>();
}

TEST_CASE("moe on CUDA: AdamW steps agree with the CPU") {
  for (size_type n : {1, 1000, 100003}) {
    const auto want = run_adamw<double>(host_backend(), n);
    const auto got = run_adamw<double>(device_backend(), n);
    for (std::size_t i = 0; i < want.size(); ++i) check_close(got[i], want[i], 1e-14, 1e-14, "adamw");
  }
}

TEST_CASE("moe on CUDA: the KV-anchor adaptor (paper defaults, per-expert cosine, scaled renormalised with null route) agrees with the CPU") {
  check_every_expert<moe::kv_anchor_router<moe::top_k<1>>, float>("kv<1> paper", {}, 2, false);
  check_every_expert<moe::kv_anchor_router<moe::top_k<2>>, double>("kv<2> paper forced", {}, 2, true);
  moe::kv_router_options o;
  o.projection = moe::projection_mode::per_expert_frozen;
  o.score = moe::score_function::cosine;
  check_adaptor<moe::kv_anchor_router<moe::top_k<2>>, moe::swiglu_expert, double>("per-expert cosine", o, 2, false);
  o.projection = moe::projection_mode::shared_retrained;
  o.score = moe::score_function::scaled_dot;
  o.gate = moe::gate_norm::renormalize_top_k;
  o.null_route = true;
  o.null_threshold = -1.0;
  check_adaptor<moe::kv_anchor_router<moe::top_k<2>>, moe::mlp_expert<beacon::activation::silu>, double>("scaled renormalised null", o, 1, false);
}

TEST_CASE("moe on CUDA: the softmax top-k adaptor (noise, load balancing) agrees with the CPU") {
  moe::softmax_router_options o;
  check_every_expert<moe::softmax_topk_router<moe::top_k<1>>, float>("softmax<1>", o, 1, false);
  o.noise_std = 0.3;
  o.load_balance_weight = 0.05;
  check_every_expert<moe::softmax_topk_router<moe::top_k<2>>, double>("softmax<2> noisy balanced", o, 1, false);
}

TEST_CASE("moe on CUDA: the per-instance anchor adaptor agrees with the CPU") {
  moe::instance_anchor_options o;
  o.threshold = 0.2;
  check_every_expert<moe::instance_anchor_router<moe::top_k<1>>, float>("instance<1>", o, 2, true);
  check_every_expert<moe::instance_anchor_router<moe::top_k<2>>, double>("instance<2>", o, 2, false);
}

TEST_CASE("moe on CUDA: shape errors are the CPU backend's") {
  const beacon::cuda& be = device_backend();
  beacon::device_buffer<float> z(12), a(12), bias(5);
  std::vector<float> hz(12), ha(12), hbias(5);
  CHECK(error_of([&] { beacon::bias_activation(be, beacon::activation::relu, dvec(std::as_const(bias)), dmat(z, 3, 4), dmat(a, 3, 4)); }) ==
        error_of([&] { beacon::bias_activation(host_backend(), beacon::activation::relu, hvec(std::as_const(hbias)), hmat(hz, 3, 4), hmat(ha, 3, 4)); }));
  using AG = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, beacon::cuda>;
  using AC = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, beacon::cpu>;
  AG g(be, {.d_model = 4, .expert_hidden = 3});
  AC c(host_backend(), {.d_model = 4, .expert_hidden = 3});
  beacon::device_buffer<float> x(20), out(20);
  std::vector<float> hx(20), hout(20);
  CHECK(error_of([&] { g.forward(dmat(std::as_const(x), 5, 4), dmat(std::as_const(x), 5, 4), dmat(out, 5, 4)); }) ==
        error_of([&] { c.forward(hmat(std::as_const(hx), 5, 4), hmat(std::as_const(hx), 5, 4), hmat(hout, 5, 4)); }));
}
