// SPDX-License-Identifier: Apache-2.0
// beacon::cuda primitives against the CPU backend (the oracle): the backend object, buffers and
// copies, GEMM, softmax / top-k / the fused router, arg-max/min, pooling, gather/scatter, segmented
// sums, grouping, empty inputs and host-side shape errors (same exception, same message).
#include "support.cuh"

#include <algorithm>
#include <limits>
#include <numeric>
#include <utility>

using namespace beacon_test;
using beacon::matrix_view;
using beacon::transpose;
using beacon::vector_view;

namespace {

constexpr float inf = std::numeric_limits<float>::infinity();

// A host view handed to a CUDA operation must not compile (the memory space is part of the type).
template <class In, class Out>
constexpr bool cuda_softmax_callable = requires(const beacon::cuda& be, In in, Out out) { beacon::row_softmax(be, in, out); };
template <class In, class Out>
constexpr bool cuda_gemm_callable = requires(const beacon::cuda& be, In a, Out c) {
  beacon::gemm(be, transpose::no, transpose::no, 1.0f, a, a, 0.0f, c);
};
template <class X, class Out>
constexpr bool cuda_sum_callable = requires(const beacon::cuda& be, X x, Out out) { beacon::sum(be, x, out); };
template <class Src, class I, class Dst>
constexpr bool cuda_gather_callable = requires(const beacon::cuda& be, Src s, I i, Dst d) { beacon::gather_rows(be, s, i, d); };

static_assert(beacon::backend<beacon::cuda>);
static_assert(beacon::accepts_views<beacon::cuda, matrix_view<float, device_space>>);
static_assert(!beacon::accepts_views<beacon::cuda, matrix_view<float, host_space>>);
static_assert(cuda_softmax_callable<matrix_view<const float, device_space>, matrix_view<float, device_space>>);
static_assert(!cuda_softmax_callable<matrix_view<const float, host_space>, matrix_view<float, host_space>>);
static_assert(!cuda_softmax_callable<matrix_view<const float, host_space>, matrix_view<float, device_space>>);
static_assert(!cuda_softmax_callable<matrix_view<const float, device_space>, matrix_view<double, device_space>>);
static_assert(cuda_gemm_callable<matrix_view<const float, device_space>, matrix_view<float, device_space>>);
static_assert(!cuda_gemm_callable<matrix_view<const float, host_space>, matrix_view<float, host_space>>);
static_assert(cuda_sum_callable<vector_view<const double, device_space>, vector_view<double, device_space>>);
static_assert(!cuda_sum_callable<vector_view<const double, host_space>, vector_view<double, device_space>>);
static_assert(cuda_gather_callable<matrix_view<const float, device_space>, vector_view<const index_type, device_space>,
                                   matrix_view<float, device_space>>);
static_assert(!cuda_gather_callable<matrix_view<const float, device_space>, vector_view<const index_type, host_space>,
                                    matrix_view<float, device_space>>);

/// Logits with a few -inf entries (masks), never a whole row of them.
std::vector<float> masked_logits(size_type rows, size_type cols, size_type ld, unsigned seed, bool ties) {
  auto x = random_logits(rows * ld, seed, ties);
  if (cols > 1)
    for (size_type i = 0; i < rows; i += 3) x[sz(i * ld + (i * 7) % cols)] = -inf;
  return x;
}

}  // namespace

TEST_CASE("cuda backend: stream, shared state, scratch, buffers and copies") {
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  {
    const beacon::cuda be{stream};
    CHECK(beacon::cuda::name() == "cuda");
    CHECK(be.stream() == stream);
    CHECK(be.multiprocessors() >= 1);
    const beacon::cuda shared = be;  // copies share the handle and the scratch
    CHECK(shared.cublas() == be.cublas());

    auto arena = be.scratch(1000);
    CHECK(arena.capacity() >= 1000);
    CHECK(be.scratch(10).capacity() >= 1000);  // never shrinks
    auto mine = be.scratch(64 * sizeof(float)).take<float>(64);
    auto theirs = be.primitive_scratch(64 * sizeof(float)).take<float>(64);
    CHECK(mine.data() != theirs.data());  // primitives never clobber an algorithm's scratch

    // Scratch is usable device memory; copies run on the (non-blocking) stream.
    beacon::fill(be, 2.5f, mine.as_matrix(8, 8));
    std::vector<float> back(64);
    beacon::copy(be, vector_view<const float, device_space>(mine), hvec(back));
    be.synchronize();
    CHECK(std::all_of(back.begin(), back.end(), [](float v) { return v == 2.5f; }));

    const auto host = random_values<float>(1000, 1);
    auto a = beacon::make_buffer<float>(be, 1000);
    auto b = beacon::make_buffer<float>(be, 1000);
    beacon::copy(be, hvec(host), dvec(a));
    beacon::copy(be, dvec(std::as_const(a)), dvec(b));
    std::vector<float> round_trip(1000);
    beacon::copy(be, dvec(std::as_const(b)), hvec(round_trip));
    be.synchronize();
    CHECK(round_trip == host);

    auto moved = std::move(b);
    CHECK(b.size() == 0);
    CHECK(moved.size() == 1000);
    CHECK(moved.to_host() == host);
    CHECK(beacon::make_buffer<index_type>(be, 0).size() == 0);
    CHECK_THROWS_AS(beacon::make_buffer<float>(be, -1), beacon::value_error);

    // Same checks, same messages as the CPU backend.
    std::vector<float> small(10);
    const beacon::cpu cpu{1};
    CHECK(error_of([&] { beacon::copy(be, hvec(host), beacon::device_vector<float>(moved.data(), 10)); }) ==
          error_of([&] { beacon::copy(cpu, hvec(host), hvec(small)); }));
  }
  CHECK(cudaStreamDestroy(stream) == cudaSuccess);
}

TEST_CASE("gemm matches the CPU for every transpose, padded leading dimensions and beta") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  struct shape {
    size_type m, n, k;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const auto [m, n, k] : {shape{1, 1, 1}, shape{7, 5, 3}, shape{64, 48, 33}, shape{130, 70, 257}, shape{3, 200, 1}})
    for (const auto ta : {transpose::no, transpose::yes})
      for (const auto tb : {transpose::no, transpose::yes})
        for (const float beta : {0.0f, 0.5f}) {
          CAPTURE(m);
          CAPTURE(n);
          CAPTURE(k);
          CAPTURE(static_cast<int>(ta));
          CAPTURE(static_cast<int>(tb));
          CAPTURE(beta);
          const size_type ar = ta == transpose::no ? m : k, ac = ta == transpose::no ? k : m, lda = ac + 3;
          const size_type br = tb == transpose::no ? k : n, bc = tb == transpose::no ? n : k, ldb = bc + 2;
          const size_type ldc = n + 5;
          const auto a = random_values<float>(ar * lda, 11);
          const auto b = random_values<float>(br * ldb, 12);
          // beta == 0: C's old contents (NaN here) must be ignored, the padding left alone.
          auto c = beta == 0.0f ? std::vector<float>(sz(m * ldc), nan) : random_values<float>(m * ldc, 13);
          auto da = to_device(a), db = to_device(b);
          auto dc = to_device(c);
          beacon::gemm(cpu, ta, tb, 1.5f, hmat(a, ar, ac, lda), hmat(b, br, bc, ldb), beta, hmat(c, m, n, ldc));
          beacon::gemm(be, ta, tb, 1.5f, dmat(std::as_const(da), ar, ac, lda), dmat(std::as_const(db), br, bc, ldb), beta,
                       dmat(dc, m, n, ldc));
          const auto got = to_host(be, dc);
          CHECK(tolerance_ratio(got, c, 1e-5 * static_cast<double>(k), 1e-4) <= 1.0);
          for (size_type i = 0; i < m; ++i)
            for (size_type j = n; j < ldc; ++j) CHECK(same_bits(got[sz(i * ldc + j)], c[sz(i * ldc + j)]));
        }

  // Double precision, and k == 0 (C = beta * C; beta == 0 gives zeros without reading C).
  const auto a = random_values<double>(40 * 30, 21), b = random_values<double>(30 * 20, 22);
  std::vector<double> c(40 * 20, 0.0);
  auto da = to_device(a), db = to_device(b), dc = to_device(c);
  beacon::gemm(cpu, transpose::no, transpose::no, 2.0, hmat(a, 40, 30), hmat(b, 30, 20), 0.0, hmat(c, 40, 20));
  beacon::gemm(be, transpose::no, transpose::no, 2.0, dmat(std::as_const(da), 40, 30), dmat(std::as_const(db), 30, 20), 0.0, dmat(dc, 40, 20));
  CHECK(tolerance_ratio(to_host(be, dc), c, 1e-12, 1e-12) <= 1.0);

  std::vector<float> c0 = random_values<float>(6 * 4, 23), c1(6 * 4, nan);
  auto dc0 = to_device(c0), dc1 = to_device(c1);
  const auto empty_a = beacon::device_matrix<const float>(nullptr, 6, 0), empty_b = beacon::device_matrix<const float>(nullptr, 0, 4);
  beacon::gemm(be, transpose::no, transpose::no, 1.0f, empty_a, empty_b, 2.0f, dmat(dc0, 6, 4));
  beacon::gemm(be, transpose::no, transpose::no, 1.0f, empty_a, empty_b, 0.0f, dmat(dc1, 6, 4));
  const auto got0 = to_host(be, dc0), got1 = to_host(be, dc1);
  for (std::size_t i = 0; i < c0.size(); ++i) {
    CHECK(got0[i] == 2.0f * c0[i]);
    CHECK(got1[i] == 0.0f);
  }
}

TEST_CASE("row_softmax matches the CPU (narrow and wide rows, padding, -inf masks, in place)") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  for (const size_type cols : {1, 2, 5, 16, 31, 33, 100, 513, 1000, 4100}) {
    CAPTURE(cols);
    const size_type rows = 37, ld = cols + 2;
    const auto x = masked_logits(rows, cols, ld, static_cast<unsigned>(cols), false);
    std::vector<float> want(sz(rows * ld), 0.0f);
    beacon::row_softmax(cpu, hmat(x, rows, cols, ld), hmat(want, rows, cols, ld));
    auto dx = to_device(x);
    auto dout = to_device(std::vector<float>(sz(rows * ld), 0.0f));
    beacon::row_softmax(be, dmat(std::as_const(dx), rows, cols, ld), dmat(dout, rows, cols, ld));
    const auto got = to_host(be, dout);
    CHECK(tolerance_ratio(got, want, 1e-7, 1e-5) <= 1.0);
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i] == -inf) CHECK(got[i] == 0.0f);
    // out may alias in.
    beacon::row_softmax(be, dmat(std::as_const(dx), rows, cols, ld), dmat(dx, rows, cols, ld));
    auto in_place = to_host(be, dx);
    for (size_type i = 0; i < rows; ++i)
      for (size_type j = cols; j < ld; ++j) in_place[sz(i * ld + j)] = 0.0f;  // padding kept the logits
    CHECK(tolerance_ratio(in_place, want, 1e-7, 1e-5) <= 1.0);
  }
}

TEST_CASE("row_top_k and softmax_top_k match the CPU: ids exactly, ties to the lower index") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  for (const size_type cols : {1, 3, 8, 17, 32, 33, 64, 65, 100, 256, 300, 512, 513, 1500}) {
    std::vector<size_type> ks{1, 2, std::min<size_type>(cols, 5), cols / 2, cols};
    std::sort(ks.begin(), ks.end());
    ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
    for (const size_type k : ks) {
      if (k < 1 || k > cols) continue;
      for (const bool ties : {false, true}) {
        CAPTURE(cols);
        CAPTURE(k);
        CAPTURE(ties);
        const size_type rows = 41, ld = cols + 1;
        const auto x = masked_logits(rows, cols, ld, static_cast<unsigned>(cols * 31 + k), ties);
        auto dx = to_device(x);
        const auto in = dmat(std::as_const(dx), rows, cols, ld);

        std::vector<float> want_v(sz(rows * k));
        std::vector<index_type> want_i(sz(rows * k));
        beacon::row_top_k(cpu, hmat(x, rows, cols, ld), k, hmat(want_v, rows, k), hmat(want_i, rows, k));
        beacon::device_buffer<float> dv(rows * k);
        beacon::device_buffer<index_type> di(rows * k);
        beacon::row_top_k(be, in, k, dmat(dv, rows, k), dmat(di, rows, k));
        CHECK(to_host(be, di) == want_i);
        CHECK(first_bit_difference(to_host(be, dv), want_v) == -1);

        for (const bool renormalize : {false, true}) {
          CAPTURE(renormalize);
          beacon::softmax_top_k(cpu, hmat(x, rows, cols, ld), k, renormalize, hmat(want_v, rows, k), hmat(want_i, rows, k));
          beacon::softmax_top_k(be, in, k, renormalize, dmat(dv, rows, k), dmat(di, rows, k));
          CHECK(to_host(be, di) == want_i);
          CHECK(tolerance_ratio(to_host(be, dv), want_v, 1e-7, 1e-5) <= 1.0);
        }
      }
    }
  }
}

TEST_CASE("row_argmax and row_argmin match the CPU, ties to the lower index") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  for (const size_type cols : {1, 2, 7, 32, 45, 1000})
    for (const bool ties : {false, true}) {
      CAPTURE(cols);
      CAPTURE(ties);
      const size_type rows = 300, ld = cols + 3;
      const auto x = masked_logits(rows, cols, ld, static_cast<unsigned>(cols + 100), ties);
      auto dx = to_device(x);
      std::vector<index_type> want(sz(rows));
      beacon::device_buffer<index_type> got(rows);
      beacon::row_argmax(cpu, hmat(x, rows, cols, ld), hvec(want));
      beacon::row_argmax(be, dmat(std::as_const(dx), rows, cols, ld), dvec(got));
      CHECK(to_host(be, got) == want);
      beacon::row_argmin(cpu, hmat(x, rows, cols, ld), hvec(want));
      beacon::row_argmin(be, dmat(std::as_const(dx), rows, cols, ld), dvec(got));
      CHECK(to_host(be, got) == want);
    }
}

TEST_CASE("masked_mean_pool matches the CPU; an all-zero mask row gives zeros on the device") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  const size_type batch = 9, length = 7, dim = 33, ld = dim + 1;
  const auto tokens = random_values<float>(batch * length * ld, 31);
  std::vector<float> mask(sz(batch * length));
  std::mt19937 gen(32);
  for (auto& m : mask) m = static_cast<float>(gen() % 2);
  for (size_type l = 0; l < length; ++l) mask[sz(l)] = 1.0f;  // row 0: every token counts
  mask[sz(4 * length + 2)] = 1.0f;                              // every row counts at least one token
  for (size_type b = 0; b < batch; ++b) mask[sz(b * length + b % length)] = 1.0f;
  std::vector<float> want(sz(batch * dim));
  beacon::masked_mean_pool(cpu, hmat(tokens, batch * length, dim, ld), hmat(mask, batch, length), hmat(want, batch, dim));
  auto dt = to_device(tokens);
  auto dm = to_device(mask);
  beacon::device_buffer<float> dout(batch * dim);
  beacon::masked_mean_pool(be, dmat(std::as_const(dt), batch * length, dim, ld), dmat(std::as_const(dm), batch, length),
                           dmat(dout, batch, dim));
  CHECK(tolerance_ratio(to_host(be, dout), want, 1e-7, 1e-6) <= 1.0);

  // Row 3 masked out entirely: the CPU throws; the device writes zeros (documented).
  for (size_type l = 0; l < length; ++l) mask[sz(3 * length + l)] = 0.0f;
  CHECK_THROWS_AS(beacon::masked_mean_pool(cpu, hmat(tokens, batch * length, dim, ld), hmat(mask, batch, length), hmat(want, batch, dim)),
                  beacon::value_error);
  dm.assign(mask);
  beacon::masked_mean_pool(be, dmat(std::as_const(dt), batch * length, dim, ld), dmat(std::as_const(dm), batch, length),
                           dmat(dout, batch, dim));
  const auto got = to_host(be, dout);
  for (size_type j = 0; j < dim; ++j) CHECK(got[sz(3 * dim + j)] == 0.0f);
}

TEST_CASE("gather_rows and scatter_rows match the CPU exactly") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  const size_type src_rows = 50, cols = 19, ld = 21, n = 120;
  const auto src = random_values<float>(src_rows * ld, 41);
  const auto index = random_indices(n, static_cast<index_type>(src_rows), 42);  // repeats allowed
  std::vector<float> want(sz(n * cols));
  beacon::gather_rows(cpu, hmat(src, src_rows, cols, ld), hvec(index), hmat(want, n, cols));
  auto dsrc = to_device(src);
  auto dindex = to_device(index);
  beacon::device_buffer<float> got(n * cols);
  beacon::gather_rows(be, dmat(std::as_const(dsrc), src_rows, cols, ld), dvec(std::as_const(dindex)), dmat(got, n, cols));
  CHECK(to_host(be, got) == want);

  // Scatter 30 rows to distinct targets among 50; other rows keep their contents.
  std::vector<index_type> targets(sz(src_rows));
  std::iota(targets.begin(), targets.end(), 0);
  std::shuffle(targets.begin(), targets.end(), std::mt19937(43));
  targets.resize(30);
  const auto rows = random_values<float>(30 * cols, 44);
  auto dst = random_values<float>(src_rows * ld, 45);
  auto ddst = to_device(dst);
  auto drows = to_device(rows);
  auto dtargets = to_device(targets);
  beacon::scatter_rows(cpu, hmat(rows, 30, cols), hvec(targets), hmat(dst, src_rows, cols, ld));
  beacon::scatter_rows(be, dmat(std::as_const(drows), 30, cols), dvec(std::as_const(dtargets)), dmat(ddst, src_rows, cols, ld));
  CHECK(to_host(be, ddst) == dst);
}

TEST_CASE("segment_sum_rows matches the CPU, empty segments included") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  const size_type rows = 500, cols = 37, segments = 40;
  const auto src = random_values<float>(rows * cols, 51);
  std::vector<index_type> offsets(sz(segments + 1));
  std::mt19937 gen(52);
  for (auto& o : offsets) o = static_cast<index_type>(gen() % (rows + 1));
  std::sort(offsets.begin(), offsets.end());
  offsets.front() = 0;
  offsets.back() = static_cast<index_type>(rows);
  offsets[5] = offsets[6] = offsets[7];  // empty segments
  std::vector<float> want(sz(segments * cols));
  beacon::segment_sum_rows(cpu, hmat(src, rows, cols), hvec(offsets), hmat(want, segments, cols));
  auto dsrc = to_device(src);
  auto doff = to_device(offsets);
  beacon::device_buffer<float> got(segments * cols);
  beacon::segment_sum_rows(be, dmat(std::as_const(dsrc), rows, cols), dvec(std::as_const(doff)), dmat(got, segments, cols));
  CHECK(tolerance_ratio(to_host(be, got), want, 1e-6, 1e-6) <= 1.0);
}

TEST_CASE("group_rows_by_key matches the CPU's stable grouping exactly") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  for (const size_type n : {0, 1, 1000, 100000})
    for (const size_type groups : {1, 3, 64, 1000}) {
      CAPTURE(n);
      CAPTURE(groups);
      auto keys = random_indices(n, static_cast<index_type>(groups), static_cast<unsigned>(n + groups));
      if (groups > 2)
        for (auto& key : keys)
          if (key == 1) key = 2;  // group 1 stays empty
      std::vector<index_type> want_offsets(sz(groups + 1)), want_perm(sz(n));
      beacon::group_rows_by_key(cpu, hvec(keys), groups, hvec(want_offsets), hvec(want_perm));
      auto dkeys = to_device(keys);
      beacon::device_buffer<index_type> offsets(groups + 1), perm(n);
      beacon::group_rows_by_key(be, dvec(std::as_const(dkeys)), groups, dvec(offsets), dvec(perm));
      CHECK(to_host(be, offsets) == want_offsets);
      CHECK(to_host(be, perm) == want_perm);
    }
}

TEST_CASE("empty inputs launch nothing and raise nothing") {
  const beacon::cuda be;
  const auto none = beacon::device_matrix<const float>(nullptr, 0, 5);
  const auto out = beacon::device_matrix<float>(nullptr, 0, 5);
  const auto ids = beacon::device_matrix<index_type>(nullptr, 0, 2);
  const auto values = beacon::device_matrix<float>(nullptr, 0, 2);
  const auto ivec = beacon::device_vector<index_type>(nullptr, 0);
  const auto fvec = beacon::device_vector<const float>(nullptr, 0);
  beacon::row_softmax(be, none, out);
  beacon::row_top_k(be, none, 2, values, ids);
  beacon::softmax_top_k(be, none, 2, true, values, ids);
  beacon::row_argmax(be, none, ivec);
  beacon::row_argmin(be, none, ivec);
  beacon::fill(be, 1.0f, out);
  beacon::axpby(be, 1.0f, none, 2.0f, none, out);
  beacon::fill_normal(be, beacon::philox_stream{1, 3}, out);
  beacon::fill_uniform(be, beacon::philox_stream{1, 3}, out);
  beacon::row_axpby_noise(be, fvec, none, fvec, beacon::philox_stream{}, out);
  beacon::row_dot(be, none, none, beacon::device_vector<float>(nullptr, 0));
  beacon::normalize_rows(be, none, out);
  beacon::gather_rows(be, none, beacon::device_vector<const index_type>(nullptr, 0), out);
  beacon::scatter_rows(be, none, beacon::device_vector<const index_type>(nullptr, 0), out);
  beacon::device_buffer<float> b35(3 * 5);
  beacon::gemm(be, transpose::no, transpose::no, 1.0f, beacon::device_matrix<const float>(nullptr, 0, 3), dmat(std::as_const(b35), 3, 5),
               0.0f, out);
  beacon::masked_mean_pool(be, none, beacon::device_matrix<const float>(nullptr, 0, 4), out);
  auto offsets = to_device(std::vector<index_type>{5});
  beacon::group_rows_by_key(be, beacon::device_vector<const index_type>(nullptr, 0), 0, dvec(offsets), ivec);
  CHECK(to_host(be, offsets) == std::vector<index_type>{0});
  be.synchronize();

  // k = 0 on non-empty rows writes nothing; the sum of nothing is +0.
  beacon::device_buffer<float> x(3 * 4);
  beacon::row_top_k(be, dmat(std::as_const(x), 3, 4), 0, beacon::device_matrix<float>(nullptr, 3, 0),
                    beacon::device_matrix<index_type>(nullptr, 3, 0));
  auto total = to_device(std::vector<float>{7.0f});
  beacon::sum(be, fvec, dvec(total));
  CHECK(same_bits(to_host(be, total)[0], 0.0f));
}

TEST_CASE("shape errors: the same exception and message as the CPU backend") {
  const beacon::cuda be;
  const beacon::cpu cpu;
  std::vector<float> h(64 * 64);
  std::vector<index_type> hi(64 * 64);
  beacon::device_buffer<float> d(64 * 64);
  beacon::device_buffer<index_type> di(64 * 64);
  const auto hm = [&](size_type r, size_type c) { return hmat(h, r, c); };
  const auto dm = [&](size_type r, size_type c) { return dmat(d, r, c); };
  const auto hcm = [&](size_type r, size_type c) { return beacon::host_matrix<const float>(h.data(), r, c); };
  const auto dcm = [&](size_type r, size_type c) { return beacon::device_matrix<const float>(d.data(), r, c); };
  const auto him = [&](size_type r, size_type c) { return hmat(hi, r, c); };
  const auto dim = [&](size_type r, size_type c) { return dmat(di, r, c); };
  const auto hv = [&](size_type n) { return beacon::host_vector<float>(h.data(), n); };
  const auto dv = [&](size_type n) { return beacon::device_vector<float>(d.data(), n); };
  const auto hiv = [&](size_type n) { return beacon::host_vector<const index_type>(hi.data(), n); };
  const auto div = [&](size_type n) { return beacon::device_vector<const index_type>(di.data(), n); };
  const auto hov = [&](size_type n) { return beacon::host_vector<index_type>(hi.data(), n); };
  const auto dov = [&](size_type n) { return beacon::device_vector<index_type>(di.data(), n); };

  const auto same = [](const std::string& got, const std::string& want) {
    CAPTURE(want);
    const bool beacon_error = got.rfind("shape_error: ", 0) == 0 || got.rfind("value_error: ", 0) == 0;
    CHECK(beacon_error);
    CHECK(got == want);
  };
  same(error_of([&] { beacon::gemm(be, transpose::no, transpose::no, 1.0f, dcm(4, 3), dcm(5, 2), 0.0f, dm(4, 2)); }),
       error_of([&] { beacon::gemm(cpu, transpose::no, transpose::no, 1.0f, hcm(4, 3), hcm(5, 2), 0.0f, hm(4, 2)); }));
  same(error_of([&] { beacon::gemm(be, transpose::yes, transpose::no, 1.0f, dcm(3, 4), dcm(3, 2), 0.0f, dm(4, 3)); }),
       error_of([&] { beacon::gemm(cpu, transpose::yes, transpose::no, 1.0f, hcm(3, 4), hcm(3, 2), 0.0f, hm(4, 3)); }));
  same(error_of([&] { beacon::row_softmax(be, dcm(4, 3), dm(4, 2)); }),
       error_of([&] { beacon::row_softmax(cpu, hcm(4, 3), hm(4, 2)); }));
  same(error_of([&] { beacon::row_top_k(be, dcm(4, 8), 9, dm(4, 9), dim(4, 9)); }),
       error_of([&] { beacon::row_top_k(cpu, hcm(4, 8), 9, hm(4, 9), him(4, 9)); }));
  same(error_of([&] { beacon::row_top_k(be, dcm(4, 8), 2, dm(4, 3), dim(4, 2)); }),
       error_of([&] { beacon::row_top_k(cpu, hcm(4, 8), 2, hm(4, 3), him(4, 2)); }));
  same(error_of([&] { beacon::softmax_top_k(be, dcm(4, 8), -1, true, dm(4, 1), dim(4, 1)); }),
       error_of([&] { beacon::softmax_top_k(cpu, hcm(4, 8), -1, true, hm(4, 1), him(4, 1)); }));
  same(error_of([&] { beacon::softmax_top_k(be, dcm(4, 8), 2, false, dm(4, 2), dim(3, 2)); }),
       error_of([&] { beacon::softmax_top_k(cpu, hcm(4, 8), 2, false, hm(4, 2), him(3, 2)); }));
  same(error_of([&] { beacon::row_argmax(be, dcm(4, 8), dov(3)); }), error_of([&] { beacon::row_argmax(cpu, hcm(4, 8), hov(3)); }));
  same(error_of([&] { beacon::row_argmin(be, dcm(4, 0), dov(4)); }), error_of([&] { beacon::row_argmin(cpu, hcm(4, 0), hov(4)); }));
  same(error_of([&] { beacon::masked_mean_pool(be, dcm(11, 5), dcm(3, 4), dm(3, 5)); }),
       error_of([&] { beacon::masked_mean_pool(cpu, hcm(11, 5), hcm(3, 4), hm(3, 5)); }));
  same(error_of([&] { beacon::masked_mean_pool(be, dcm(12, 5), dcm(3, 4), dm(3, 6)); }),
       error_of([&] { beacon::masked_mean_pool(cpu, hcm(12, 5), hcm(3, 4), hm(3, 6)); }));
  same(error_of([&] { beacon::gather_rows(be, dcm(10, 4), div(5), dm(6, 4)); }),
       error_of([&] { beacon::gather_rows(cpu, hcm(10, 4), hiv(5), hm(6, 4)); }));
  same(error_of([&] { beacon::scatter_rows(be, dcm(10, 4), div(5), dm(20, 4)); }),
       error_of([&] { beacon::scatter_rows(cpu, hcm(10, 4), hiv(5), hm(20, 4)); }));
  same(error_of([&] { beacon::segment_sum_rows(be, dcm(10, 4), div(3), dm(3, 4)); }),
       error_of([&] { beacon::segment_sum_rows(cpu, hcm(10, 4), hiv(3), hm(3, 4)); }));
  same(error_of([&] { beacon::sum(be, beacon::device_vector<const float>(d.data(), 10), dv(2)); }),
       error_of([&] { beacon::sum(cpu, beacon::host_vector<const float>(h.data(), 10), hv(2)); }));
  same(error_of([&] { beacon::axpby(be, 1.0f, dcm(3, 4), 1.0f, dcm(4, 3), dm(3, 4)); }),
       error_of([&] { beacon::axpby(cpu, 1.0f, hcm(3, 4), 1.0f, hcm(4, 3), hm(3, 4)); }));
  same(error_of([&] { beacon::row_axpby_noise(be, dv(2), dcm(3, 4), dv(3), beacon::philox_stream{}, dm(3, 4)); }),
       error_of([&] { beacon::row_axpby_noise(cpu, hv(2), hcm(3, 4), hv(3), beacon::philox_stream{}, hm(3, 4)); }));
  same(error_of([&] { beacon::row_dot(be, dcm(3, 4), dcm(3, 4), dv(4)); }),
       error_of([&] { beacon::row_dot(cpu, hcm(3, 4), hcm(3, 4), hv(4)); }));
  same(error_of([&] { beacon::normalize_rows(be, dcm(3, 4), dm(3, 5)); }),
       error_of([&] { beacon::normalize_rows(cpu, hcm(3, 4), hm(3, 5)); }));
  same(error_of([&] { beacon::group_rows_by_key(be, div(10), -1, dov(1), dov(10)); }),
       error_of([&] { beacon::group_rows_by_key(cpu, hiv(10), -1, hov(1), hov(10)); }));
  same(error_of([&] { beacon::group_rows_by_key(be, div(10), 4, dov(4), dov(10)); }),
       error_of([&] { beacon::group_rows_by_key(cpu, hiv(10), 4, hov(4), hov(10)); }));
}

// ---- the backend conformance suite (tests/conformance/primitives.hpp) for beacon::cuda ------------
#include "../conformance/primitives.hpp"

namespace beacon_conformance {
/// CUDA checks metadata (shapes, k) on the host; data checks (NaN, index ranges, offsets, empty
/// masks) are the host backends' alone, so the suite skips those expectations here.
template <>
struct backend_under_test<beacon::cuda> {
  static beacon::cuda make() { return beacon::cuda{}; }
  static constexpr bool checks_data = false;
};
}  // namespace beacon_conformance

TYPE_TO_STRING(beacon::cuda);
BEACON_CONFORMANCE_SUITE(beacon::cuda);
