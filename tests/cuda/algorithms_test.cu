// SPDX-License-Identifier: Apache-2.0
// The module algorithms written once over the backend (k-means / planner, diffusion noising,
// reverse steps, re-anchoring, rounding, semantic vectors), run on beacon::cuda and compared with
// the same calls on beacon::cpu (the oracle).
#include "support.cuh"

#include <beacon/diffusion/losses.hpp>
#include <beacon/diffusion/noising.hpp>
#include <beacon/diffusion/rounding.hpp>
#include <beacon/diffusion/sampler.hpp>
#include <beacon/plan.hpp>
#include <beacon/semantic/vectors.hpp>

using namespace beacon_test;

namespace {
/// `centres` well-separated blobs of `per` points in d dimensions.
std::vector<float> blob_data(size_type centres, size_type per, size_type d, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> noise(0.0f, 0.1f);
  std::uniform_real_distribution<float> where(-20.0f, 20.0f);
  std::vector<float> c(sz(centres * d)), x;
  for (auto& v : c) v = where(gen);
  for (size_type i = 0; i < per; ++i)
    for (size_type b = 0; b < centres; ++b)
      for (size_type j = 0; j < d; ++j) x.push_back(c[sz(b * d + j)] + noise(gen));
  return x;
}
}  // namespace

TEST_CASE("k-means on CUDA: identical labels and inertia within 1e-5 relative of the CPU path") {
  const size_type k = 16, per = 300, d = 24, n = k * per;
  const auto x = blob_data(k, per, d, 3);
  beacon::plan::kmeans_options<float> o;
  o.clusters = k;
  o.seed = 5;
  o.chunk_rows = 1000;  // several chunks, clusters crossing chunk boundaries
  const auto cpu = beacon::plan::kmeans(beacon::cpu{2}, hmat(x, n, d), o);
  beacon::cuda be;
  auto dx = to_device(x);
  const auto gpu = beacon::plan::kmeans(be, dmat(dx, n, d), o);
  CHECK(gpu.labels == cpu.labels);
  CHECK(gpu.inertia == doctest::Approx(cpu.inertia).epsilon(1e-5));
  CHECK(gpu.iterations == cpu.iterations);
  beacon::plan::plan_options<float> po;
  po.batch_size = per;
  po.kmeans.seed = 1;
  const auto pc = beacon::plan::plan_edit_order(beacon::cpu{2}, hmat(x, n, d), po);
  const auto pg = beacon::plan::plan_edit_order(be, dmat(dx, n, d), po);
  // Batch membership is the same; the order inside a batch follows distances to the centroid, which
  // may differ in the last bits between backends (float normalisation), so compare as sets.
  REQUIRE(pg.batches.size() == pc.batches.size());
  for (std::size_t b = 0; b < pc.batches.size(); ++b) {
    auto x1 = pc.batches[b], x2 = pg.batches[b];
    std::sort(x1.begin(), x1.end());
    std::sort(x2.begin(), x2.end());
    CHECK(x1 == x2);
  }
  CHECK(pg.similarity.within == doctest::Approx(pc.similarity.within).epsilon(1e-6));
}

TEST_CASE("diffusion on CUDA: partial noising is bit-identical to the CPU, reverse steps and re-anchoring agree") {
  const size_type rows = 257, dim = 131;
  const auto x0 = random_values<float>(rows * dim, 1);
  const auto s = beacon::diffusion::make_schedule(beacon::diffusion::schedule_kind::sqrt, 2000);
  std::vector<index_type> t = {5, 1999, 700};
  std::vector<std::uint8_t> mask(sz(rows), 1);
  for (size_type r = 0; r < rows; r += 3) mask[sz(r)] = 0;
  std::vector<float> a(sz(rows)), b(sz(rows));
  for (size_type r = 0; r < rows; ++r) {
    const auto k = static_cast<std::size_t>(t[sz(r % 3)]);
    a[sz(r)] = mask[sz(r)] ? static_cast<float>(s.sqrt_alphas_cumprod[k]) : 1.0f;
    b[sz(r)] = mask[sz(r)] ? static_cast<float>(s.sqrt_one_minus_alphas_cumprod[k]) : 0.0f;
  }
  const beacon::philox_stream noise{77, 1234};
  std::vector<float> host_out(x0.size());
  beacon::diffusion::q_sample(beacon::cpu{2}, beacon::host_vector<const float>(a.data(), rows), hmat(x0, rows, dim),
                              beacon::host_vector<const float>(b.data(), rows), noise, hmat(host_out, rows, dim));
  beacon::cuda be;
  auto da = to_device(a), db = to_device(b), dx = to_device(x0);
  beacon::device_buffer<float> dout(rows * dim);
  beacon::diffusion::q_sample(be, beacon::device_vector<const float>(da.data(), rows), dmat(dx, rows, dim),
                              beacon::device_vector<const float>(db.data(), rows), noise, dmat(dout, rows, dim));
  const auto dev = to_host(be, dout);
  CHECK(std::memcmp(dev.data(), host_out.data(), host_out.size() * sizeof(float)) == 0);

  // Reverse step + re-anchoring.
  std::vector<float> c(sz(rows), 0.3f);
  std::vector<index_type> source = {0, 3, 6, 9};
  std::vector<float> host_step(x0.size());
  beacon::diffusion::reverse_step(beacon::cpu{1}, beacon::host_vector<const float>(a.data(), rows), hmat(x0, rows, dim),
                                  beacon::host_vector<const float>(b.data(), rows), hmat(host_out, rows, dim),
                                  beacon::host_vector<const float>(c.data(), rows), noise, hmat(host_step, rows, dim));
  beacon::diffusion::reanchor_source(beacon::cpu{1}, hmat(x0, rows, dim), beacon::host_vector<const index_type>(source.data(), 4),
                                     hmat(host_step, rows, dim));
  auto dc = to_device(c);
  auto dsrc = to_device(source);
  beacon::device_buffer<float> dstep(rows * dim);
  beacon::diffusion::reverse_step(be, beacon::device_vector<const float>(da.data(), rows), dmat(dx, rows, dim),
                                  beacon::device_vector<const float>(db.data(), rows), dmat(std::as_const(dout), rows, dim),
                                  beacon::device_vector<const float>(dc.data(), rows), noise, dmat(dstep, rows, dim));
  beacon::diffusion::reanchor_source(be, dmat(dx, rows, dim), beacon::device_vector<const index_type>(dsrc.data(), 4), dmat(dstep, rows, dim));
  const auto step = to_host(be, dstep);
  double worst = 0;
  for (std::size_t i = 0; i < step.size(); ++i) worst = std::max(worst, double(std::abs(step[i] - host_step[i])));
  CHECK(worst <= 1e-6);  // a*x + b*y + c*z may contract differently; the noise itself is identical
  CHECK(step[3 * sz(dim) + 5] == x0[3 * sz(dim) + 5]);  // re-anchored exactly
}

TEST_CASE("rounding and semantic vectors on CUDA agree with the CPU") {
  const size_type vocab = 777, dim = 32, rows = 300;
  const auto e = random_values<float>(vocab * dim, 4);
  auto x = random_values<float>(rows * dim, 5, -0.3f, 0.3f);
  for (size_type r = 0; r < rows; r += 7)
    for (size_type j = 0; j < dim; ++j) x[sz(r * dim + j)] += e[sz(((r * 13) % vocab) * dim + j)];
  std::vector<float> norms(sz(vocab));
  beacon::diffusion::embedding_squared_norms(beacon::cpu{1}, hmat(e, vocab, dim), beacon::host_vector(norms.data(), vocab));
  std::vector<index_type> host_ids(sz(rows));
  beacon::diffusion::nearest_embedding(beacon::cpu{2}, hmat(x, rows, dim), hmat(e, vocab, dim),
                                       beacon::host_vector<const float>(norms.data(), vocab), beacon::host_vector(host_ids.data(), rows), 64);
  beacon::cuda be;
  auto de = to_device(e), dx = to_device(x);
  beacon::device_buffer<float> dnorms(vocab);
  beacon::device_buffer<index_type> dids(rows);
  beacon::diffusion::embedding_squared_norms(be, dmat(de, vocab, dim), beacon::device_vector<float>(dnorms.data(), vocab));
  beacon::diffusion::nearest_embedding(be, dmat(dx, rows, dim), dmat(de, vocab, dim), beacon::device_vector<const float>(dnorms.data(), vocab),
                                       beacon::device_vector<index_type>(dids.data(), rows), 64);
  CHECK(to_host(be, dids) == host_ids);

  // Expected embeddings E^T softmax(z).
  const size_type n = 40;
  const auto z = random_logits(n * vocab, 6);
  std::vector<float> hp(sz(n * vocab)), ho(sz(n * dim));
  beacon::semantic::expected_embeddings(beacon::cpu{1}, hmat(z, n, vocab), hmat(e, vocab, dim), hmat(hp, n, vocab), hmat(ho, n, dim));
  auto dz = to_device(z);
  beacon::device_buffer<float> dp(n * vocab), dout(n * dim);
  beacon::semantic::expected_embeddings(be, dmat(dz, n, vocab), dmat(de, vocab, dim), dmat(dp, n, vocab), dmat(dout, n, dim));
  const auto go = to_host(be, dout);
  for (std::size_t i = 0; i < go.size(); ++i) CHECK(go[i] == doctest::Approx(ho[i]).epsilon(1e-4));
}

TEST_CASE("row_logsumexp and the diffusion loss terms on CUDA agree with the CPU") {
  const size_type rows = 37, cols = 300;
  auto z = random_logits(rows * cols, 8);
  z[5] = -INFINITY;  // a masked entry
  std::vector<float> host(sz(rows));
  beacon::row_logsumexp(beacon::cpu{1}, hmat(z, rows, cols), beacon::host_vector(host.data(), rows));
  beacon::cuda be;
  auto dz = to_device(z);
  beacon::device_buffer<float> dout(rows);
  beacon::row_logsumexp(be, dmat(dz, rows, cols), beacon::device_vector<float>(dout.data(), rows));
  const auto dev = to_host(be, dout);
  for (size_type r = 0; r < rows; ++r) CHECK(dev[sz(r)] == doctest::Approx(host[sz(r)]).epsilon(1e-5));

  // Loss terms: B = 3 examples of L = 4 tokens, d = 16, V = 50.
  const size_type batch = 3, length = 4, dim = 16, vocab = 50, n = batch * length;
  const auto x0 = random_values<float>(n * dim, 9), xh = random_values<float>(n * dim, 10), clean = random_values<float>(n * dim, 11);
  const auto e = random_values<float>(vocab * dim, 12), bias = random_values<float>(vocab, 13);
  const auto ids = random_indices(n, static_cast<index_type>(vocab), 14);
  const auto s = beacon::diffusion::make_schedule(beacon::diffusion::schedule_kind::sqrt, 100);
  const std::vector<index_type> t = {0, 50, 99};
  const auto cpu = beacon::diffusion::diffusion_losses(beacon::cpu{1}, s, t, hmat(x0, n, dim), hmat(xh, n, dim), hmat(clean, n, dim),
                                                       hmat(e, vocab, dim), beacon::host_vector<const float>(bias.data(), vocab),
                                                       beacon::host_vector<const index_type>(ids.data(), n));
  auto dx0 = to_device(x0), dxh = to_device(xh), dcl = to_device(clean), de = to_device(e), db = to_device(bias);
  auto dids = to_device(ids);
  const auto gpu = beacon::diffusion::diffusion_losses(be, s, t, dmat(dx0, n, dim), dmat(dxh, n, dim), dmat(dcl, n, dim), dmat(de, vocab, dim),
                                                       beacon::device_vector<const float>(db.data(), vocab),
                                                       beacon::device_vector<const index_type>(dids.data(), n));
  for (size_type b = 0; b < batch; ++b) {
    CHECK(gpu.mse[sz(b)] == doctest::Approx(cpu.mse[sz(b)]).epsilon(1e-5));
    CHECK(gpu.tT[sz(b)] == doctest::Approx(cpu.tT[sz(b)]).epsilon(1e-5));
    CHECK(gpu.decoder_nll[sz(b)] == doctest::Approx(cpu.decoder_nll[sz(b)]).epsilon(1e-5));
  }
}
