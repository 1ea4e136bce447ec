// SPDX-License-Identifier: Apache-2.0
// The semantic re-weighted cross-entropy on beacon::cuda against the CPU path (the oracle): every
// weight scheme, normalisation, granularity, output vector and distance, with prompt masks, the
// ADDITIVE term, ties, the chunked scratch paths, padded views, the empty-batch and zero-weight
// rules, analytic values (spec T3, T9) and the CPU's error messages.
#include "support.cuh"

#include <beacon/semantic/reweighted_loss.cuh>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

using namespace beacon_test;
namespace sem = beacon::semantic;

namespace {

/// B items of L positions over a V-word vocabulary with a V x D embedding. Rows may be padded
/// (ld > cols) to check that views, not dense copies, are read and written.
template <class T>
struct problem {
  size_type items = 0, length = 0, vocab = 0, dim = 0, pad = 0;
  std::vector<T> logits, embedding;
  std::vector<index_type> targets;
  std::vector<std::uint8_t> mask;
  size_type ld() const { return vocab + pad; }
  size_type rows() const { return items * length; }
};

/// Normal logits (integers when `ties`: rows full of equal maxima), uniform embedding rows, random
/// targets; position 0 of every item is a prompt token, and item 1 (when there is one) has a prompt
/// hole in the middle of its answer.
template <class T>
problem<T> make_problem(size_type items, size_type length, size_type vocab, size_type dim, unsigned seed, bool ties = false,
                        size_type pad = 0) {
  problem<T> p;
  p.items = items, p.length = length, p.vocab = vocab, p.dim = dim, p.pad = pad;
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, 2.0);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  p.logits.assign(sz(p.rows() * p.ld()), T(-777));  // padding keeps this value
  for (size_type r = 0; r < p.rows(); ++r)
    for (size_type v = 0; v < vocab; ++v) {
      const double z = normal(gen);
      p.logits[sz(r * p.ld() + v)] = static_cast<T>(ties ? std::round(z) : z);
    }
  p.embedding.resize(sz(vocab * dim));
  for (auto& e : p.embedding) e = static_cast<T>(uniform(gen));
  p.targets = random_indices(p.rows(), static_cast<index_type>(vocab), seed + 1);
  p.mask.assign(sz(p.rows()), 1);
  for (size_type b = 0; b < items; ++b) p.mask[sz(b * length)] = 0;
  if (items > 1 && length > 2) p.mask[sz(length + length / 2)] = 0;
  return p;
}

struct run_options {
  sem::reweight_options weights{};
  bool grad = true;
  sem::loss_granularity granularity = sem::loss_granularity::per_item;
  sem::output_vector mode = sem::output_vector::expected;
  sem::distance_options distance{};
  std::size_t chunk_bytes = sem::detail::semantic_ce_chunk_bytes;
};

template <class T>
struct outcome {
  sem::semantic_ce_result result;
  std::vector<T> grad;  // rows x ld, padding included
};

template <class T>
outcome<T> run_cpu(const problem<T>& p, const run_options& ro) {
  outcome<T> out;
  out.grad.assign(sz(p.rows() * p.ld()), T(-555));
  const auto grad = ro.grad ? hmat(out.grad, p.rows(), p.vocab, p.ld()) : beacon::host_matrix<T>(nullptr, 0, p.vocab);
  out.result = sem::semantic_cross_entropy(beacon::cpu{2}, hmat(p.logits, p.rows(), p.vocab, p.ld()), hvec(p.targets),
                                           hmat(p.mask, p.items, p.length), hmat(p.embedding, p.vocab, p.dim), ro.weights, grad,
                                           ro.granularity, ro.mode, ro.distance);
  return out;
}

template <class T>
outcome<T> run_cuda(const beacon::cuda& be, const problem<T>& p, const run_options& ro) {
  outcome<T> out;
  auto logits = to_device(p.logits);
  auto embedding = to_device(p.embedding);
  auto targets = to_device(p.targets);
  auto mask = to_device(p.mask);
  beacon::device_buffer<T> grad(std::vector<T>(sz(p.rows() * p.ld()), T(-555)));
  const auto grad_view = ro.grad ? dmat(grad, p.rows(), p.vocab, p.ld()) : beacon::device_matrix<T>(nullptr, 0, p.vocab);
  out.result = sem::detail::semantic_cross_entropy_cuda(be, dmat(logits, p.rows(), p.vocab, p.ld()), dvec(targets),
                                                        dmat(mask, p.items, p.length), dmat(embedding, p.vocab, p.dim), ro.weights,
                                                        grad_view, ro.granularity, ro.mode, ro.distance, ro.chunk_bytes);
  out.grad = to_host(be, grad);
  return out;
}

/// Tolerances: double paths agree to rounding; float follows the spec's 1e-4.
template <class T>
struct tolerance {
  static constexpr double atol = std::is_same_v<T, double> ? 1e-11 : 2e-6;
  static constexpr double rtol = std::is_same_v<T, double> ? 1e-9 : 1e-4;
};

template <class T>
void check_agrees(const outcome<T>& gpu, const outcome<T>& cpu) {
  using tol = tolerance<T>;
  const auto& g = gpu.result;
  const auto& c = cpu.result;
  CHECK(g.combined.empty == c.combined.empty);
  CHECK(g.combined.fell_back == c.combined.fell_back);
  REQUIRE(g.ce.size() == c.ce.size());
  CHECK(tolerance_ratio(g.ce, c.ce, 10 * tol::atol, tol::rtol) <= 1);
  CHECK(tolerance_ratio(g.distance, c.distance, 10 * tol::atol, tol::rtol) <= 1);
  CHECK(tolerance_ratio(g.combined.coefficients, c.combined.coefficients, 10 * tol::atol, tol::rtol) <= 1);
  CHECK(tolerance_ratio(g.combined.weights, c.combined.weights, 10 * tol::atol, tol::rtol) <= 1);
  CHECK(g.combined.loss == doctest::Approx(c.combined.loss).epsilon(tol::rtol).scale(1.0));
  // Padding untouched, prompt rows exactly 0 on both, answer rows within tolerance.
  CHECK(tolerance_ratio(gpu.grad, cpu.grad, tol::atol, tol::rtol) <= 1);
}

const sem::reweight_options schemes[] = {
    {},
    {.scheme = sem::weight_scheme::linear, .alpha = 0.5, .normalisation = sem::weight_normalisation::mean},
    {.scheme = sem::weight_scheme::softmax, .tau = 0.2},
    {.scheme = sem::weight_scheme::power, .gamma = 2, .w_min = 0.01, .normalisation = sem::weight_normalisation::mean},
    {.scheme = sem::weight_scheme::linear, .alpha = 1, .additive_lambda = 0.5},
    {.scheme = sem::weight_scheme::softmax, .tau = 0.5, .normalisation = sem::weight_normalisation::mean, .additive_lambda = -0.8},
};

const sem::distance_options distances[] = {
    {}, {.clamp = sem::cosine_clamp::product}, {.kind = sem::distance_kind::euclidean}};

}  // namespace

TEST_CASE_TEMPLATE("semantic cross-entropy on CUDA agrees with the CPU: every scheme, normalisation, granularity and output vector",
                   T, float, double) {
  const beacon::cuda be;
  const auto p = make_problem<T>(5, 6, 37, 12, 11);
  for (auto granularity : {sem::loss_granularity::per_item, sem::loss_granularity::per_token})
    for (auto mode : {sem::output_vector::expected, sem::output_vector::argmax})
      for (const auto& w : schemes) {
        if (w.additive_lambda != 0 && mode != sem::output_vector::expected) continue;
        for (bool grad : {true, false}) {
          const run_options ro{.weights = w, .grad = grad, .granularity = granularity, .mode = mode};
          CAPTURE(static_cast<int>(granularity));
          CAPTURE(static_cast<int>(mode));
          CAPTURE(static_cast<int>(w.scheme));
          CAPTURE(w.additive_lambda);
          CAPTURE(grad);
          check_agrees(run_cuda(be, p, ro), run_cpu(p, ro));
        }
      }
}

TEST_CASE_TEMPLATE("semantic cross-entropy on CUDA: cosine clamps and the Euclidean distance, with the ADDITIVE gradient", T, float,
                   double) {
  const beacon::cuda be;
  const auto p = make_problem<T>(4, 5, 29, 9, 21);
  for (const auto& d : distances)
    for (auto granularity : {sem::loss_granularity::per_item, sem::loss_granularity::per_token}) {
      const run_options ro{.weights = {.alpha = 2, .additive_lambda = 0.7}, .granularity = granularity, .distance = d};
      CAPTURE(static_cast<int>(d.kind));
      CAPTURE(static_cast<int>(d.clamp));
      check_agrees(run_cuda(be, p, ro), run_cpu(p, ro));
    }
}

TEST_CASE_TEMPLATE("semantic cross-entropy on CUDA: chunked scratch, padded views and a non-default stream give the CPU's results", T,
                   float, double) {
  cudaStream_t stream;
  REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  {
    const beacon::cuda be(stream);
    const auto p = make_problem<T>(6, 4, 45, 7, 31, false, 3);
    for (auto granularity : {sem::loss_granularity::per_item, sem::loss_granularity::per_token})
      for (bool grad : {true, false})
        for (const auto& w : {schemes[0], schemes[4]}) {
          // One byte per chunk: one sequence of probabilities and one E g row at a time.
          const run_options tiny{.weights = w, .grad = grad, .granularity = granularity, .chunk_bytes = 1};
          CAPTURE(static_cast<int>(granularity));
          CAPTURE(grad);
          CAPTURE(w.additive_lambda);
          const auto cpu = run_cpu(p, tiny);
          const auto chunked = run_cuda(be, p, tiny);
          check_agrees(chunked, cpu);
          run_options whole = tiny;
          whole.chunk_bytes = sem::detail::semantic_ce_chunk_bytes;
          check_agrees(run_cuda(be, p, whole), cpu);
          for (size_type r = 0; r < p.rows(); ++r)  // the padding columns are never written
            for (size_type v = p.vocab; v < p.ld(); ++v) CHECK(chunked.grad[sz(r * p.ld() + v)] == T(-555));
        }
  }
  CHECK(cudaStreamDestroy(stream) == cudaSuccess);
}

TEST_CASE("semantic cross-entropy on CUDA: integer logits full of ties pick the lower id as the CPU does") {
  const beacon::cuda be;
  auto p = make_problem<double>(6, 5, 9, 6, 41, true);
  auto wide = make_problem<double>(6, 5, 100, 6, 42, true);
  // Three equal maxima per row: two in one lane (columns 32 apart) and one in another.
  for (size_type r = 0; r < wide.rows(); ++r)
    for (size_type c : {r % 20, r % 20 + 32, r % 20 + 37}) wide.logits[sz(r * wide.ld() + c)] = 10;
  for (const auto& q : {p, wide})
  for (auto granularity : {sem::loss_granularity::per_item, sem::loss_granularity::per_token}) {
    const run_options ro{.granularity = granularity, .mode = sem::output_vector::argmax};
    const auto gpu = run_cuda(be, q, ro);
    const auto cpu = run_cpu(q, ro);
    check_agrees(gpu, cpu);
    // A different tie-break would use another embedding row: distances off by O(1), not rounding.
    CHECK(tolerance_ratio(gpu.result.distance, cpu.result.distance, 1e-12, 1e-12) <= 1);
  }
}

TEST_CASE("semantic cross-entropy on CUDA: run to run bit-identical") {
  const beacon::cuda be;
  const auto p = make_problem<float>(5, 4, 300, 16, 51);
  const run_options ro{.weights = {.scheme = sem::weight_scheme::softmax, .tau = 0.3, .additive_lambda = 0.4}};
  const auto a = run_cuda(be, p, ro), b = run_cuda(be, p, ro);
  CHECK(first_bit_difference(a.grad, b.grad) == -1);
  CHECK(first_bit_difference(a.result.distance, b.result.distance) == -1);
  CHECK(first_bit_difference(a.result.ce, b.result.ce) == -1);
  CHECK(same_bits(a.result.combined.loss, b.result.combined.loss));
}

TEST_CASE("semantic cross-entropy on CUDA: spec T3 and T9 values, and alpha = 0 is the plain cross-entropy") {
  const beacon::cuda be;
  // T3: z = (2, 1, 0), E rows e0 = (1, 0), e1 = (0, 1), e2 = (1, 1), target 1: d = 0.594789, CE = 1.407606.
  // T9: with an ADDITIVE-only loss the logit gradient minus the CE part is dd/dz = (0.298306, -0.247593, -0.050713).
  auto z = to_device(std::vector<double>{2, 1, 0});
  auto e = to_device(std::vector<double>{1, 0, 0, 1, 1, 1});
  auto y = to_device(std::vector<index_type>{1});
  auto m = to_device(std::vector<std::uint8_t>{1});
  beacon::device_buffer<double> g(3);
  const sem::reweight_options only_distance{.scheme = sem::weight_scheme::power, .gamma = 1, .w_min = 0,
                                            .normalisation = sem::weight_normalisation::mean, .additive_lambda = 1.0};
  const auto r = sem::semantic_cross_entropy(be, dmat(z, 1, 3), dvec(y), dmat(m, 1, 1), dmat(e, 3, 2), only_distance, dmat(g, 1, 3));
  CHECK(r.distance[0] == doctest::Approx(0.594789).epsilon(1e-6));
  CHECK(r.ce[0] == doctest::Approx(1.407606).epsilon(1e-6));
  const auto grad = to_host(be, g);
  const double c = r.combined.coefficients[0];
  const double p[3] = {0.665241, 0.244728, 0.090031};
  CHECK(grad[0] - c * p[0] == doctest::Approx(0.298306).epsilon(1e-5));
  CHECK(grad[1] - c * (p[1] - 1) == doctest::Approx(-0.247593).epsilon(1e-5));
  CHECK(grad[2] - c * p[2] == doctest::Approx(-0.050713).epsilon(1e-4));
  CHECK(grad[0] + grad[1] + grad[2] == doctest::Approx(0.0).scale(1.0).epsilon(1e-12));

  // alpha = 0: every weight is 1, so the loss is the mean of the items' mean answer-token CE, and
  // each answer row's gradient is (p - onehot) / (B m_i).
  const auto q = make_problem<double>(3, 4, 11, 5, 61);
  const auto out = run_cuda(be, q, {.weights = {.alpha = 0}});
  double plain = 0;
  for (size_type b = 0; b < q.items; ++b) {
    double s = 0;
    int count = 0;
    for (size_type l = 0; l < q.length; ++l) {
      const size_type row = b * q.length + l;
      if (!q.mask[sz(row)]) continue;
      const double* zr = q.logits.data() + row * q.ld();
      const double mx = *std::max_element(zr, zr + q.vocab);
      double se = 0;
      for (size_type v = 0; v < q.vocab; ++v) se += std::exp(zr[v] - mx);
      s += mx + std::log(se) - zr[q.targets[sz(row)]];
      ++count;
    }
    plain += s / count / static_cast<double>(q.items);
  }
  CHECK(out.result.combined.loss == doctest::Approx(plain).epsilon(1e-12));
}

TEST_CASE_TEMPLATE("semantic cross-entropy on CUDA: empty batch, all-prompt batch and the zero-weight fallback", T, float, double) {
  const beacon::cuda be;
  // B = 0: loss 0 and `empty`, on both backends.
  const auto none = make_problem<T>(0, 4, 10, 3, 71);
  const auto e_gpu = run_cuda(be, none, {}), e_cpu = run_cpu(none, {});
  CHECK(e_gpu.result.combined.empty);
  CHECK(e_gpu.result.combined.loss == 0.0);
  check_agrees(e_gpu, e_cpu);
  // Per token with only prompt tokens: no item, and the gradient is exactly zero everywhere.
  auto prompts = make_problem<T>(3, 4, 10, 3, 72);
  std::fill(prompts.mask.begin(), prompts.mask.end(), 0);
  const run_options per_token{.granularity = sem::loss_granularity::per_token};
  const auto p_gpu = run_cuda(be, prompts, per_token);
  CHECK(p_gpu.result.combined.empty);
  CHECK(std::all_of(p_gpu.grad.begin(), p_gpu.grad.end(), [](T v) { return v == T(0); }));
  check_agrees(p_gpu, run_cpu(prompts, per_token));
  // Sum of weights 0: ARGMAX + Euclidean with every answer's arg-max on its target gives d = 0
  // exactly, and POWER with w_min = 0 gives zero weights: both backends fall back to the mean.
  auto exact = make_problem<T>(4, 3, 13, 5, 73);
  for (size_type r = 0; r < exact.rows(); ++r) exact.logits[sz(r * exact.ld() + exact.targets[sz(r)])] = T(50);
  const run_options zero{.weights = {.scheme = sem::weight_scheme::power, .gamma = 1, .w_min = 0},
                         .mode = sem::output_vector::argmax,
                         .distance = {.kind = sem::distance_kind::euclidean}};
  const auto z_gpu = run_cuda(be, exact, zero), z_cpu = run_cpu(exact, zero);
  CHECK(z_cpu.result.combined.fell_back);
  CHECK(z_gpu.result.combined.fell_back);
  for (double d : z_gpu.result.distance) CHECK(d == 0.0);
  check_agrees(z_gpu, z_cpu);
}

TEST_CASE("semantic cross-entropy on CUDA: a 50 000-word vocabulary in float agrees with the CPU and stays finite") {
  const beacon::cuda be;
  auto p = make_problem<float>(2, 2, 50000, 16, 81);
  for (auto& z : p.logits) z *= 15.0f;  // |z| ~ 30: exp overflows without max subtraction
  p.mask = {1, 1, 0, 1};
  const run_options ro{.weights = {.additive_lambda = 0.3}};
  const auto gpu = run_cuda(be, p, ro);
  check_agrees(gpu, run_cpu(p, ro));
  CHECK(std::isfinite(gpu.result.combined.loss));
  CHECK(std::all_of(gpu.grad.begin(), gpu.grad.end(), [](float v) { return std::isfinite(v); }));
}

TEST_CASE("semantic cross-entropy on CUDA rejects what the CPU rejects, with the same messages") {
  const beacon::cuda be;
  const auto base = make_problem<double>(3, 3, 7, 4, 91);
  const auto both = [&](const problem<double>& p, const run_options& ro = {}) {
    const std::string gpu = error_of([&] { run_cuda(be, p, ro); });
    const std::string cpu = error_of([&] { run_cpu(p, ro); });
    CHECK(gpu == cpu);
    return gpu;
  };
  auto p = base;
  p.logits[sz(5 * p.ld() + 2)] = NAN;
  CHECK(both(p) == "value_error: beacon::semantic_cross_entropy: argument 'logits' expected finite values on answer rows, got a NaN or Inf in row 5");
  p = base;
  p.logits[sz(8 * p.ld() + 6)] = INFINITY;
  p.logits[sz(7 * p.ld())] = -INFINITY;
  p.logits[sz(4 * p.ld())] = NAN;  // row 4 is the prompt hole of item 1
  CHECK(both(p) == "value_error: beacon::semantic_cross_entropy: argument 'logits' expected finite values on answer rows, got a NaN or Inf in row 7");
  p = base;
  p.logits[sz(3 * p.ld() + 1)] = INFINITY;  // row 3 is a prompt row: ignored
  CHECK(both(p) == "no error");
  p = base;
  p.targets[1] = 7;
  p.logits[1] = NAN;  // rows 0 (a prompt) and 2: a target error comes before any NaN check
  p.logits[sz(2 * p.ld())] = NAN;
  CHECK(both(p) == "value_error: beacon::semantic_cross_entropy: argument 'targets' expected token ids in [0, 7), got 7 at row 1");
  p = base;
  p.targets[7] = -2;
  p.targets[6] = 9;  // row 6 is a prompt row: its target is never read
  CHECK(both(p, {.granularity = sem::loss_granularity::per_token}) ==
        "value_error: beacon::semantic_cross_entropy: argument 'targets' expected token ids in [0, 7), got -2 at row 7");
  p = base;
  p.targets[3] = 100;  // a prompt row's target is never read
  CHECK(both(p) == "no error");
  p = base;
  p.mask = {0, 1, 1, 0, 0, 0, 1, 1, 1};
  CHECK(both(p) == "value_error: beacon::semantic_cross_entropy: argument 'answer_mask' expected at least one answer token per item, got an empty row 1");
  CHECK(both(p, {.granularity = sem::loss_granularity::per_token}) == "no error");
  CHECK(both(base, {.weights = {.additive_lambda = 0.5}, .mode = sem::output_vector::argmax}).find("'additive_lambda'") != std::string::npos);
  CHECK(both(base, {.weights = {.scheme = sem::weight_scheme::softmax, .tau = 0}}).find("'tau'") != std::string::npos);
  // Shapes: the same shape_error text.
  auto d_logits = to_device(base.logits);
  auto d_targets = to_device(base.targets);
  auto d_mask = to_device(base.mask);
  auto d_embedding = to_device(base.embedding);
  beacon::device_buffer<double> d_grad(9 * 7);
  std::vector<double> h_grad(9 * 7);
  const auto shapes = [&](size_type rows, size_type targets, size_type mask_rows, size_type vocab_rows, size_type grad_rows) {
    const std::string gpu = error_of([&] {
      sem::semantic_cross_entropy(be, dmat(d_logits, rows, 7), beacon::device_vector<const index_type>(d_targets.data(), targets),
                                  dmat(d_mask, mask_rows, 3), dmat(d_embedding, vocab_rows, 4), {}, dmat(d_grad, grad_rows, 7));
    });
    const std::string cpu = error_of([&] {
      sem::semantic_cross_entropy(beacon::cpu{1}, hmat(base.logits, rows, 7), beacon::host_vector<const index_type>(base.targets.data(), targets),
                                  hmat(base.mask, mask_rows, 3), hmat(base.embedding, vocab_rows, 4), {}, hmat(h_grad, grad_rows, 7));
    });
    CHECK(gpu == cpu);
    CHECK(gpu.rfind("shape_error: beacon::semantic_cross_entropy: argument '", 0) == 0);
  };
  shapes(8, 8, 3, 7, 8);  // logits rows != mask size
  shapes(9, 8, 3, 7, 9);  // targets
  shapes(9, 9, 3, 6, 9);  // embedding rows != vocab
  shapes(9, 9, 3, 7, 4);  // grad shape
}
