// The LEMoE building blocks (moe/ops/*) on beacon::cuda against the same code on beacon::cpu (the
// oracle; tests/cpu/moe_grouped_test.cpp ties the CPU path to the Eigen adaptor): dense-layer
// primitives, KV-anchor routing, dispatch / gather / combine / gate gradients, grouped MLP and
// SwiGLU experts forward and backward, AdamW, and an adaptor forward run end to end on the GPU.
// Every scenario is one function template over the backend, run once per backend.
#include "support.cuh"

#include <beacon/backend/transfer.hpp>
#include <beacon/moe.hpp>

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
std::vector<std::vector<T>> run_dense_layer(const B& be, moe::activation act, size_type rows, size_type cols, bool with_bias) {
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
  for (const auto act : {moe::activation::relu, moe::activation::silu, moe::activation::gelu, moe::activation::identity})
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

// ---- KV-anchor routing ---------------------------------------------------------------------------

template <class T>
struct route_case {
  size_type batch, d, rank, key_dim, experts, k;
  moe::kv_router_options opt;
  std::vector<T> w_down, w_up, keys, e;
};

template <class T, class B>
std::pair<std::vector<std::vector<T>>, std::vector<index_type>> run_kv_route(const B& be, const route_case<T>& c) {
  auto w_down = put(be, c.w_down), w_up = put(be, c.w_up), keys = put(be, c.keys), e = put(be, c.e);
  const size_type chosen = std::min(c.k, c.experts);
  auto z = beacon::make_buffer<T>(be, c.batch * c.rank), v = beacon::make_buffer<T>(be, c.batch * c.key_dim),
       scores = beacon::make_buffer<T>(be, c.batch * c.experts), gates = beacon::make_buffer<T>(be, c.batch * chosen);
  auto ids = beacon::make_buffer<index_type>(be, c.batch * chosen);
  using space = typename B::memory_space;
  moe::kv_route(be,
                moe::kv_route_weights<T, space>{cmat(w_down, c.rank, c.d), cmat(w_up, c.key_dim, c.rank), cmat(keys, c.experts, c.key_dim)},
                c.opt, c.k, cmat(e, c.batch, c.d),
                moe::kv_route_outputs<T, space>{mat(z, c.batch, c.rank), mat(v, c.batch, c.key_dim), mat(scores, c.batch, c.experts),
                                                mat(gates, c.batch, chosen), mat(ids, c.batch, chosen)});
  return {{get(be, cvec(z)), get(be, cvec(v)), get(be, cvec(scores)), get(be, cvec(gates))}, get(be, cvec(ids))};
}

template <class T>
void check_kv_route() {
  unsigned seed = 10;
  for (const size_type experts : {1, 8, 64})
    for (const size_type k : {1, 2})
      for (const auto score : {moe::score_function::dot, moe::score_function::scaled_dot, moe::score_function::cosine})
        for (const auto gate : {moe::gate_norm::softmax_all_experts, moe::gate_norm::renormalize_top_k})
          for (const bool null_route : {false, true}) {
            CAPTURE(experts);
            CAPTURE(k);
            CAPTURE(static_cast<int>(score));
            CAPTURE(static_cast<int>(gate));
            CAPTURE(null_route);
            route_case<T> c{33, 24, 6, 16, experts, k, {}, {}, {}, {}, {}};
            c.opt.score = score;
            c.opt.gate = gate;
            c.w_down = random_values<T>(c.rank * c.d, seed++);
            c.w_up = random_values<T>(c.key_dim * c.rank, seed++);
            c.keys = random_values<T>(experts * c.key_dim, seed++, T(-2), T(2));
            c.e = random_values<T>(c.batch * c.d, seed++, T(-2), T(2));
            if (null_route) {  // threshold between the rows' best scores, so some rows route and some do not
              const auto scores = run_kv_route(host_backend(), c).first[2];
              std::vector<T> best;
              for (size_type b = 0; b < c.batch; ++b)
                best.push_back(*std::max_element(scores.begin() + b * experts, scores.begin() + (b + 1) * experts));
              std::sort(best.begin(), best.end());
              c.opt.null_route = true;
              c.opt.null_threshold = 0.5 * (static_cast<double>(best[16]) + static_cast<double>(best[17]));
            }
            const auto [want, want_ids] = run_kv_route(host_backend(), c);
            const auto [got, got_ids] = run_kv_route(device_backend(), c);
            check_close(got[0], want[0], tol<T>(), tol<T>(), "z");
            check_close(got[1], want[1], tol<T>(), tol<T>(), "v");
            check_close(got[2], want[2], tol<T>(), tol<T>(), "scores");
            CHECK(got_ids == want_ids);
            check_close(got[3], want[3], tol<T>(), tol<T>(), "gates");
            if (null_route) {  // the threshold splits the rows: both outcomes occur
              CHECK(std::count(want_ids.begin(), want_ids.end(), -1) > 0);
              CHECK(std::count(want_ids.begin(), want_ids.end(), -1) < static_cast<long>(want_ids.size()));
            }
          }
}

// ---- dispatch, gather, combine, gate-weighted gather, gate gradients ------------------------------

template <class T>
struct dispatch_case {
  size_type routes, per_route, k, experts, d;
  T lambda;
  std::vector<index_type> ids;
  std::vector<T> gates, x, y_pool, dout;  // y_pool: tokens * k rows, the first `pairs` are the expert outputs
};

struct dispatch_result {
  std::vector<index_type> offsets, pair_token, pair_choice, position;
};

template <class T, class B>
std::pair<dispatch_result, std::vector<std::vector<T>>> run_dispatch(const B& be, const dispatch_case<T>& c) {
  using space = typename B::memory_space;
  const size_type tokens = c.routes * c.per_route, k = c.k, d = c.d;
  auto ids = put(be, c.ids);
  auto gates = put(be, c.gates), x = put(be, c.x), y_pool = put(be, c.y_pool), dout = put(be, c.dout);
  auto offsets = beacon::make_buffer<index_type>(be, c.experts + 1), pair_token = beacon::make_buffer<index_type>(be, tokens * k),
       pair_choice = beacon::make_buffer<index_type>(be, tokens * k), position = beacon::make_buffer<index_type>(be, tokens * k);
  const moe::grouped_dispatch<space> dispatch{offsets.view(), pair_token.view(), pair_choice.view(), mat(position, tokens, k)};
  moe::group_pairs_by_expert(be, cmat(ids, c.routes, k), tokens, c.per_route, c.experts, dispatch);
  const auto host_offsets = beacon::download(be, cvec(offsets));  // the pipeline's one round trip
  const size_type pairs = host_offsets.back();
  auto x_grouped = beacon::make_buffer<T>(be, pairs * d), out = beacon::make_buffer<T>(be, tokens * d),
       dy_grouped = beacon::make_buffer<T>(be, pairs * d), dgates = beacon::make_buffer<T>(be, c.routes * k);
  const auto y_grouped = matrix_view<const T, space>(y_pool.view().data(), pairs, d);
  moe::gather_pairs(be, cmat(x, tokens, d), dispatch, mat(x_grouped, pairs, d));
  moe::combine_pairs(be, y_grouped, dispatch, cmat(gates, c.routes, k), c.per_route, c.lambda, mat(out, tokens, d));
  moe::gather_gated_pairs(be, cmat(dout, tokens, d), dispatch, cmat(gates, c.routes, k), c.per_route, c.lambda, mat(dy_grouped, pairs, d));
  moe::pair_gate_gradients(be, cmat(dout, tokens, d), y_grouped, dispatch, c.per_route, c.lambda, mat(dgates, c.routes, k));
  return {{host_offsets, get(be, cvec(pair_token)), get(be, cvec(pair_choice)), get(be, cvec(position))},
          {get(be, cvec(x_grouped)), get(be, cvec(out)), get(be, cvec(dy_grouped)), get(be, cvec(dgates))}};
}

template <class T>
void check_dispatch() {
  unsigned seed = 200;
  for (const size_type experts : {1, 7, 64})
    for (const size_type k : {1, 2})
      for (const size_type per_route : {1, 4}) {
        CAPTURE(experts);
        CAPTURE(k);
        CAPTURE(per_route);
        dispatch_case<T> c{41, per_route, k, experts, 19, T(0.75), {}, {}, {}, {}, {}};
        const size_type tokens = c.routes * per_route;
        // A quarter of the choices null; ids from 16 experts at most (every third), so with 64 experts most get no token.
        c.ids = random_indices(c.routes * k, static_cast<index_type>(4 * std::min<size_type>(experts, 16)), seed++);
        for (auto& id : c.ids) id = id % 4 == 0 ? -1 : static_cast<index_type>((3 * (id / 4)) % experts);
        c.gates = random_values<T>(c.routes * k, seed++, T(0), T(1));
        c.x = random_values<T>(tokens * c.d, seed++);
        c.y_pool = random_values<T>(tokens * k * c.d, seed++);
        c.dout = random_values<T>(tokens * c.d, seed++);
        const auto [want_d, want] = run_dispatch(host_backend(), c);
        const auto [got_d, got] = run_dispatch(device_backend(), c);
        CHECK(got_d.offsets == want_d.offsets);
        CHECK(got_d.pair_token == want_d.pair_token);
        CHECK(got_d.pair_choice == want_d.pair_choice);
        CHECK(got_d.position == want_d.position);
        CHECK(first_bit_difference(got[0], want[0]) == -1);  // a gather moves bits
        check_close(got[1], want[1], tol<T>(), tol<T>(), "combine");
        check_close(got[2], want[2], tol<T>(), tol<T>(), "gate-weighted gather");
        check_close(got[3], want[3], tol<T>(), tol<T>(), "gate gradients");
        if (experts == 64) CHECK(std::count(want_d.offsets.begin() + 1, want_d.offsets.end(), want_d.offsets[1]) > 1);  // empty experts
      }
}

// ---- grouped experts -----------------------------------------------------------------------------

template <class T>
struct expert_case {
  bool swiglu;
  moe::activation act;
  size_type d, h;
  std::vector<index_type> offsets;
  std::vector<std::vector<T>> weights;  // per expert: w1, b1, w2, b2 (mlp) or gate, up, down (swiglu)
  std::vector<bool> frozen;             // per expert: no weight gradients
  std::vector<T> x, dy, grad_init;      // grad_init: the gradient buffers' starting values (they accumulate)
};

template <class T, class B>
std::vector<std::vector<T>> run_experts(const B& be, const expert_case<T>& c) {
  using space = typename B::memory_space;
  using buffer = decltype(beacon::make_buffer<T>(be, 0));
  const size_type rows = c.offsets.back(), d = c.d, h = c.h;
  std::vector<buffer> weights, grads;
  for (const auto& w : c.weights) {
    weights.push_back(put(be, w));
    grads.push_back(put(be, std::vector<T>(c.grad_init.begin(), c.grad_init.begin() + static_cast<std::ptrdiff_t>(w.size()))));
  }
  auto x = put(be, c.x), dy = put(be, c.dy);
  auto y = beacon::make_buffer<T>(be, rows * d), dx = beacon::make_buffer<T>(be, rows * d);
  std::vector<buffer> cache;
  for (int i = 0; i < (c.swiglu ? 3 : 2); ++i) cache.push_back(beacon::make_buffer<T>(be, rows * h));
  const std::size_t experts = c.offsets.size() - 1;
  if (c.swiglu) {
    std::vector<moe::swiglu_weights<T, space>> w;
    std::vector<moe::swiglu_gradients<T, space>> g;
    for (std::size_t e = 0; e < experts; ++e) {
      w.push_back({cmat(weights[3 * e], h, d), cmat(weights[3 * e + 1], h, d), cmat(weights[3 * e + 2], d, h)});
      g.push_back(c.frozen[e] ? moe::swiglu_gradients<T, space>{}
                              : moe::swiglu_gradients<T, space>{mat(grads[3 * e], h, d), mat(grads[3 * e + 1], h, d), mat(grads[3 * e + 2], d, h)});
    }
    const moe::swiglu_cache<T, space> k{mat(cache[0], rows, h), mat(cache[1], rows, h), mat(cache[2], rows, h)};
    moe::grouped_swiglu_forward(be, w, c.offsets, cmat(x, rows, d), k, mat(y, rows, d));
    moe::grouped_swiglu_backward(be, w, g, c.offsets, cmat(x, rows, d), k, cmat(dy, rows, d), mat(dx, rows, d));
  } else {
    std::vector<moe::mlp_weights<T, space>> w;
    std::vector<moe::mlp_gradients<T, space>> g;
    for (std::size_t e = 0; e < experts; ++e) {
      w.push_back({cmat(weights[4 * e], h, d), cvec(weights[4 * e + 1]), cmat(weights[4 * e + 2], d, h), cvec(weights[4 * e + 3])});
      g.push_back(c.frozen[e] ? moe::mlp_gradients<T, space>{}
                              : moe::mlp_gradients<T, space>{mat(grads[4 * e], h, d), grads[4 * e + 1].view(), mat(grads[4 * e + 2], d, h),
                                                             grads[4 * e + 3].view()});
    }
    const moe::mlp_cache<T, space> k{mat(cache[0], rows, h), mat(cache[1], rows, h)};
    moe::grouped_mlp_forward(be, c.act, w, c.offsets, cmat(x, rows, d), k, mat(y, rows, d));
    moe::grouped_mlp_backward(be, c.act, w, g, c.offsets, cmat(x, rows, d), k, cmat(dy, rows, d), mat(dx, rows, d));
  }
  std::vector<std::vector<T>> out = {get(be, cvec(y)), get(be, cvec(dx))};
  for (const auto& b : cache) out.push_back(get(be, cvec(b)));
  for (const auto& g : grads) out.push_back(get(be, cvec(g)));
  return out;
}

template <class T>
void check_experts() {
  unsigned seed = 400;
  const std::vector<std::vector<index_type>> layouts = {{0, 13}, {0, 0, 5, 5, 17, 18}, {}};
  for (const bool swiglu : {false, true})
    for (const auto act : {moe::activation::relu, moe::activation::silu, moe::activation::gelu})
      for (std::size_t layout = 0; layout < layouts.size(); ++layout) {
        if (swiglu && act != moe::activation::silu) continue;
        CAPTURE(swiglu);
        CAPTURE(static_cast<int>(act));
        CAPTURE(layout);
        expert_case<T> c{swiglu, act, 12, 20, layouts[layout], {}, {}, {}, {}, {}};
        if (c.offsets.empty()) {  // 64 experts, a third of them without tokens
          c.offsets.push_back(0);
          for (index_type e = 0; e < 64; ++e) c.offsets.push_back(c.offsets.back() + (e % 3 == 1 ? 0 : 1 + e % 4));
        }
        const std::size_t experts = c.offsets.size() - 1;
        const size_type rows = c.offsets.back(), d = c.d, h = c.h;
        for (std::size_t e = 0; e < experts; ++e) {
          const std::vector<size_type> sizes = swiglu ? std::vector<size_type>{h * d, h * d, d * h} : std::vector<size_type>{h * d, h, d * h, d};
          for (const size_type n : sizes) c.weights.push_back(random_values<T>(n, seed++, T(-0.5), T(0.5)));
          c.frozen.push_back(e % 5 == 2);
        }
        c.x = random_values<T>(rows * d, seed++);
        c.dy = random_values<T>(rows * d, seed++);
        c.grad_init = random_values<T>(h * d, seed++);
        const auto want = run_experts(host_backend(), c);
        const auto got = run_experts(device_backend(), c);
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < want.size(); ++i) {
          CAPTURE(i);  // 0: y, 1: dx, then the cache, then every expert's gradients in order
          check_close(got[i], want[i], 10 * tol<T>(), 10 * tol<T>(), "experts");
        }
        // Frozen experts' gradient buffers are untouched on both backends.
        const std::size_t per = swiglu ? 3 : 4, first_grad = want.size() - c.weights.size();
        for (std::size_t e = 0; e < experts; ++e)
          if (c.frozen[e])
            for (std::size_t t = 0; t < per; ++t) {
              const auto& g = got[first_grad + per * e + t];
              CHECK(std::equal(g.begin(), g.end(), c.grad_init.begin()));
            }
      }
}

// ---- AdamW ---------------------------------------------------------------------------------------

template <class T, class B>
std::vector<std::vector<T>> run_adamw(const B& be, const std::vector<T>& value0, const std::vector<T>& grad, bool frozen) {
  auto value = put(be, value0), g = put(be, grad), m = put(be, std::vector<T>(value0.size(), T(0))), v = put(be, std::vector<T>(value0.size(), T(0)));
  moe::adamw opt;
  opt.lr = 1e-2;
  for (int step = 0; step < 3; ++step) {
    opt.next_step();
    moe::adamw_update(be, opt, moe::adamw_views<T, typename B::memory_space>{value.view(), cvec(g), m.view(), v.view(), frozen});
  }
  return {get(be, cvec(value)), get(be, cvec(m)), get(be, cvec(v))};
}

template <class T>
void check_adamw() {
  const auto value = random_values<T>(1031, 1), grad = random_values<T>(1031, 2, T(-0.1), T(0.1));
  const auto want = run_adamw(host_backend(), value, grad, false);
  const auto got = run_adamw(device_backend(), value, grad, false);
  for (std::size_t i = 0; i < want.size(); ++i) check_close(got[i], want[i], 1e-12, std::is_same_v<T, float> ? 1e-6 : 1e-12, "adamw");
  CHECK(first_bit_difference(got[0], value) != -1);  // it moved
  const auto frozen = run_adamw(device_backend(), value, grad, true);
  CHECK(first_bit_difference(frozen[0], value) == -1);  // frozen: the same bytes
}

// ---- an adaptor forward, end to end on the backend -----------------------------------------------

template <class T, class B, class Adaptor>
std::vector<T> run_adaptor_forward(const B& be, const Adaptor& a, const std::vector<T>& e_host, const std::vector<T>& x_host, size_type batch,
                                   size_type length) {
  using space = typename B::memory_space;
  using router = typename Adaptor::router_type;
  const auto& cfg = a.settings();
  const auto& rs = a.router();
  const size_type d = cfg.d_model, h = cfg.expert_hidden, experts = a.experts(), tokens = batch * length;
  const size_type k = std::min(router::k, experts), rank = rs.rank, key_dim = rs.key_dim;
  auto w_down = put(be, rs.shared.down.value), w_up = put(be, rs.shared.up.value), keys = put(be, moe::stacked_keys<T>(rs));
  auto e = put(be, e_host), x = put(be, x_host);
  auto z = beacon::make_buffer<T>(be, batch * rank), v = beacon::make_buffer<T>(be, batch * key_dim), scores = beacon::make_buffer<T>(be, batch * experts),
       gates = beacon::make_buffer<T>(be, batch * k);
  auto ids = beacon::make_buffer<index_type>(be, batch * k);
  moe::kv_route(be, moe::kv_route_weights<T, space>{cmat(w_down, rank, d), cmat(w_up, key_dim, rank), cmat(keys, experts, key_dim)}, rs.opt,
                router::k, cmat(e, batch, d),
                moe::kv_route_outputs<T, space>{mat(z, batch, rank), mat(v, batch, key_dim), mat(scores, batch, experts), mat(gates, batch, k),
                                                mat(ids, batch, k)});
  auto offsets = beacon::make_buffer<index_type>(be, experts + 1), pair_token = beacon::make_buffer<index_type>(be, tokens * k),
       pair_choice = beacon::make_buffer<index_type>(be, tokens * k), position = beacon::make_buffer<index_type>(be, tokens * k);
  const moe::grouped_dispatch<space> dispatch{offsets.view(), pair_token.view(), pair_choice.view(), mat(position, tokens, k)};
  moe::group_pairs_by_expert(be, cmat(ids, batch, k), tokens, length, experts, dispatch);
  const auto host_offsets = beacon::download(be, cvec(offsets));
  const size_type pairs = host_offsets.back();
  auto xg = beacon::make_buffer<T>(be, pairs * d), yg = beacon::make_buffer<T>(be, pairs * d), out = beacon::make_buffer<T>(be, tokens * d);
  auto ca = beacon::make_buffer<T>(be, pairs * h), cb = beacon::make_buffer<T>(be, pairs * h), cu = beacon::make_buffer<T>(be, pairs * h);
  moe::gather_pairs(be, cmat(x, tokens, d), dispatch, mat(xg, pairs, d));
  using buffer = decltype(beacon::make_buffer<T>(be, 0));
  std::vector<buffer> weights;
  std::vector<moe::swiglu_weights<T, space>> w;
  for (size_type i = 0; i < experts; ++i)
    for (const auto* p : a.expert(i).params()) weights.push_back(put(be, p->value));
  for (size_type i = 0; i < experts; ++i)
    w.push_back({cmat(weights[static_cast<std::size_t>(3 * i)], h, d), cmat(weights[static_cast<std::size_t>(3 * i + 1)], h, d),
                 cmat(weights[static_cast<std::size_t>(3 * i + 2)], d, h)});
  moe::grouped_swiglu_forward(be, w, host_offsets, cmat(xg, pairs, d), moe::swiglu_cache<T, space>{mat(ca, pairs, h), mat(cb, pairs, h), mat(cu, pairs, h)},
                              mat(yg, pairs, d));
  moe::combine_pairs(be, cmat(yg, pairs, d), dispatch, cmat(gates, batch, k), length, static_cast<T>(cfg.lambda), mat(out, tokens, d));
  return get(be, cvec(out));
}

template <class T, class Router>
void check_adaptor_forward() {
  using A = moe::adaptor<T, Router, moe::swiglu_expert>;
  const size_type d = 16, batch = 12, length = 3;
  A a(beacon::cpu{1}, {.d_model = d, .expert_hidden = 24, .router_rank = 4, .lambda = 0.9, .seed = 5});
  for (int i = 0; i < 6; ++i) {
    const auto batch_e = random_values<T>(4 * d, 60 + static_cast<unsigned>(i), T(-2), T(2));
    a.insert_expert(moe::expert_init<T>::random_normal(static_cast<std::uint64_t>(i), 0.3), hmat(batch_e, 4, d));
  }
  unsigned seed = 90;
  for (auto* p : a.parameters())
    if (p->name.find(".down") != std::string::npos) p->value = random_values<T>(p->size(), seed++, T(-0.3), T(0.3));
  const auto e = random_values<T>(batch * d, 7, T(-2), T(2)), x = random_values<T>(batch * length * d, 8);
  std::vector<T> want(x.size());
  a.forward(hmat(x, batch * length, d), hmat(e, batch, d), hmat(want, batch * length, d));
  const auto got = run_adaptor_forward(device_backend(), a, e, x, batch, length);
  check_close(got, want, 10 * tol<T>(), 10 * tol<T>(), "adaptor forward");
  CHECK(std::any_of(want.begin(), want.end(), [](T v) { return v != T(0); }));
}

}  // namespace

TEST_CASE("moe on CUDA: bias + activation, activation backward, gated activation and column sums agree with the CPU") {
  check_dense_layer<float>();
  check_dense_layer<double>();
}

TEST_CASE("moe on CUDA: KV-anchor routing (GEMMs + fused softmax top-k + null route) agrees with the CPU") {
  check_kv_route<float>();
  check_kv_route<double>();
}

TEST_CASE("moe on CUDA: dispatch arrays are identical to the CPU's, gather, combine and gate gradients agree") {
  check_dispatch<float>();
  check_dispatch<double>();
}

TEST_CASE("moe on CUDA: grouped MLP and SwiGLU experts forward and backward agree with the CPU (empty and frozen experts)") {
  check_experts<float>();
  check_experts<double>();
}

TEST_CASE("moe on CUDA: AdamW agrees with the CPU and leaves frozen parameters' bytes alone") {
  check_adamw<float>();
  check_adamw<double>();
}

TEST_CASE("moe on CUDA: route, dispatch, grouped SwiGLU experts and combine reproduce adaptor::forward") {
  check_adaptor_forward<float, moe::kv_anchor_router<moe::top_k<1>>>();
  check_adaptor_forward<double, moe::kv_anchor_router<moe::top_k<2>>>();
}

TEST_CASE("moe on CUDA: shape errors are the CPU backend's") {
  const beacon::cuda& be = device_backend();
  beacon::device_buffer<float> z(12), a(12), bias(5);
  std::vector<float> hz(12), ha(12), hbias(5);
  CHECK(error_of([&] { beacon::bias_activation(be, moe::activation::relu, dvec(std::as_const(bias)), dmat(z, 3, 4), dmat(a, 3, 4)); }) ==
        error_of([&] { beacon::bias_activation(host_backend(), moe::activation::relu, hvec(std::as_const(hbias)), hmat(hz, 3, 4), hmat(ha, 3, 4)); }));
  beacon::device_buffer<index_type> ids(6), keys(5);
  std::vector<index_type> hids(6), hkeys(5);
  const auto cuda_error = error_of([&] { beacon::dispatch_keys(be, dmat(std::as_const(ids), 3, 2), 3, 1, 4, dvec(keys)); });
  CHECK(cuda_error.find("argument 'keys' expected size (tokens * ids.cols) = 6, got 5") != std::string::npos);
  CHECK(cuda_error == error_of([&] { beacon::dispatch_keys(host_backend(), hmat(std::as_const(hids), 3, 2), 3, 1, 4, hvec(hkeys)); }));
}
