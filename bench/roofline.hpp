// SPDX-License-Identifier: Apache-2.0
#pragma once
// Roofline support for beacon's Google Benchmark suites (bench_<module>.cpp).
//
// At start-up each bench binary probes the machine once (engineering.md B.4, "measure a practical
// roofline"):
//   * bandwidth: STREAM triad a[i] = b[i] + s * c[i] over three double arrays of >= 4 x LLC each,
//     first-touched and run on beacon::cpu{}.threads() threads, best of several runs, counted the
//     STREAM way (24 bytes per element: two reads and one write; the write-allocate read is not
//     counted, so real traffic is 4/3 of this);
//   * compute: Eigen sgemm C = A * B (n x n x n, float, on `threads` threads), best of
//     several runs, 2 n^3 FLOP per run.
// The peaks are printed to stderr and added to the benchmark context (console header and JSON
// "context"). Each case then reports, per engineering.md B.5/B.6:
//   bytes_per_second  SetBytesProcessed(bytes per iteration x iterations) (GB prints it base 1024)
//   flops             FLOP/s (a kIsRate counter; printed as e.g. "flops=250G/s")
//   bw_frac           (bytes / probe bandwidth) / t      -- fraction of the triad bandwidth
//   flop_frac         (flops / probe sgemm rate) / t     -- fraction of the Eigen sgemm rate
//   roofline          max(bytes / BW, flops / F) / t     -- fraction of the roofline bound
// where t is the measured wall time per iteration. Fractions above 1 are possible (and expected)
// when the working set is cache-resident: the probe measures DRAM bandwidth. Label such cases with
// residency_label().
//
// Use:
//   static void BM_op(benchmark::State& st) {
//     ... setup ...
//     beacon::bench::measure(st, bytes_per_iter, flops_per_iter, [&] { op(); });
//   }
//   BENCHMARK(BM_op)->UseRealTime();   // always real time: OpenMP work runs on other threads
//   BEACON_BENCH_MAIN();
// Benchmarks that time themselves (UseManualTime, e.g. CUDA events) call
// set_roofline(st, seconds_total, bytes_per_iter, flops_per_iter) after their loop instead.
//
// Environment overrides (all optional):
//   BEACON_BENCH_PEAK_GBPS=<GB/s> and BEACON_BENCH_PEAK_GFLOPS=<GFLOP/s>  skip the probe, use these
//   BEACON_BENCH_LLC_BYTES=<bytes>   last-level cache size (default: sysfs, then sysconf, then 32 MiB)
//   BEACON_BENCH_GEMM_N=<n>          probe GEMM size (default 2048)

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <unistd.h>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <beacon/backend/cpu/cpu.hpp>
#include <beacon/backend/cpu/gemm.hpp>

namespace beacon::bench {

/// Peaks the roofline fractions are taken against. Zero means "unknown" (fractions are omitted).
struct machine_peaks {
  double bytes_per_s = 0;   // STREAM triad bandwidth
  double flops_per_s = 0;   // Eigen sgemm rate
  int threads = 1;          // threads both probes ran on (beacon::cpu{}.threads())
  std::size_t llc_bytes = 0;
  std::size_t triad_elements = 0;  // per array (double)
  int triad_runs = 0;
  int gemm_n = 0;
  int gemm_runs = 0;
  bool from_environment = false;
};

namespace detail {

inline double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const double x = std::strtod(v, &end);
  return (end != v && x > 0) ? x : fallback;
}

/// "32768K" / "1M" / "512" (sysfs cache size) -> bytes; 0 if unreadable.
inline std::size_t parse_size(const std::string& s) {
  if (s.empty()) return 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(s.c_str(), &end, 10);
  if (end == s.c_str()) return 0;
  std::size_t mult = 1;
  if (*end == 'K' || *end == 'k') mult = std::size_t{1} << 10;
  else if (*end == 'M' || *end == 'm') mult = std::size_t{1} << 20;
  else if (*end == 'G' || *end == 'g') mult = std::size_t{1} << 30;
  return static_cast<std::size_t>(n) * mult;
}

inline std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  if (f) std::getline(f, s);
  return s;
}

inline std::string format(const char* fmt, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, a, b, c, d);
  return buf;
}

}  // namespace detail

/// Size of the largest (last-level) CPU cache in bytes.
inline std::size_t llc_bytes() {
  if (const double env = detail::env_double("BEACON_BENCH_LLC_BYTES", 0); env > 0) return static_cast<std::size_t>(env);
  // sysfs first: glibc's sysconf reports 320 MiB for this KVM guest's 32 MiB L3.
  std::size_t best = 0;
  int best_level = 0;
  for (int i = 0; i < 16; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::string level = detail::read_line(dir + "level");
    if (level.empty()) break;
    const int lv = std::atoi(level.c_str());
    const std::size_t size = detail::parse_size(detail::read_line(dir + "size"));
    if (size > 0 && lv >= best_level) {
      best_level = lv;
      best = size;
    }
  }
  if (best > 0) return best;
#if defined(_SC_LEVEL3_CACHE_SIZE)
  if (const long s = sysconf(_SC_LEVEL3_CACHE_SIZE); s > 0) return static_cast<std::size_t>(s);
#endif
  return std::size_t{32} << 20;
}

/// Best-of-`runs` STREAM triad bandwidth (bytes/s, STREAM byte count) on `threads` threads.
inline double measure_triad(int threads, std::size_t n, int runs) {
  auto a = std::make_unique_for_overwrite<double[]>(n);
  auto b = std::make_unique_for_overwrite<double[]>(n);
  auto c = std::make_unique_for_overwrite<double[]>(n);
  const auto len = static_cast<std::int64_t>(n);
  double* const pa = a.get();
  const double* const pb = b.get();
  const double* const pc = c.get();
  // First touch with the same static schedule as the timed loop (page placement per thread).
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::int64_t i = 0; i < len; ++i) {
    a[i] = 1.0;
    b[i] = 2.0;
    c[i] = 0.5;
  }
  const double s = 3.0;
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::int64_t i = 0; i < len; ++i) pa[i] = pb[i] + s * pc[i];
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(pa[len / 2]);
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  (void)threads;  // unused without OpenMP
  return 3.0 * sizeof(double) * static_cast<double>(n) / best;
}

/// Best-of-`runs` Eigen sgemm rate (FLOP/s) for n x n x n on `threads` threads.
inline double measure_sgemm(int threads, int n, int runs) {
  // This thread's OpenMP count, as beacon's gemm sets it (Eigen::setNbThreads would pin every later
  // GEMM of the process to `threads`).
  const beacon::detail::calling_thread_threads scoped_threads(threads);
  // Deterministic, O(1)-valued inputs (no std::rand dependence).
  Eigen::MatrixXf a(n, n), b(n, n), c(n, n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) {
      a(i, j) = static_cast<float>((i * 7 + j * 13) % 17) * 0.0625f - 0.5f;
      b(i, j) = static_cast<float>((i * 11 + j * 5) % 19) * 0.0625f - 0.5f;
    }
  c.noalias() = a * b;  // warm-up (packing buffers, page faults, thread start)
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    c.noalias() = a * b;
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return 2.0 * static_cast<double>(n) * n * n / best;
}

/// The process-wide peaks; probe() fills them (BEACON_BENCH_MAIN calls it once before any case).
inline machine_peaks& peaks() {
  static machine_peaks p;
  return p;
}

/// Runs (or reads from the environment) the machine probe, prints it to stderr, adds it to the
/// benchmark context. Idempotent after the first call.
inline const machine_peaks& probe() {
  static bool done = false;
  machine_peaks& p = peaks();
  if (done) return p;
  done = true;
  p.threads = beacon::cpu{}.threads();
  p.llc_bytes = llc_bytes();
  const double env_bw = detail::env_double("BEACON_BENCH_PEAK_GBPS", 0);
  const double env_f = detail::env_double("BEACON_BENCH_PEAK_GFLOPS", 0);
  if (env_bw > 0 && env_f > 0) {
    p.bytes_per_s = env_bw * 1e9;
    p.flops_per_s = env_f * 1e9;
    p.from_environment = true;
  } else {
    // STREAM rule: each array at least 4 x the last-level cache (and at least 32 MiB).
    p.triad_elements = std::max<std::size_t>(4 * p.llc_bytes, std::size_t{32} << 20) / sizeof(double);
    p.triad_runs = 10;
    p.gemm_n = static_cast<int>(detail::env_double("BEACON_BENCH_GEMM_N", 2048));
    p.gemm_runs = 5;
    p.bytes_per_s = measure_triad(p.threads, p.triad_elements, p.triad_runs);
    p.flops_per_s = measure_sgemm(p.threads, p.gemm_n, p.gemm_runs);
  }
  const double mib = static_cast<double>(sizeof(double) * p.triad_elements) / (1 << 20);
  const std::string bw =
      p.from_environment
          ? detail::format("%.2f GB/s (BEACON_BENCH_PEAK_GBPS)", p.bytes_per_s / 1e9)
          : detail::format("%.2f GB/s (STREAM triad, best of %.0f, 3 x %.0f MiB double arrays, %.0f threads)",
                           p.bytes_per_s / 1e9, p.triad_runs, mib, p.threads);
  const std::string fl =
      p.from_environment
          ? detail::format("%.1f GFLOP/s (BEACON_BENCH_PEAK_GFLOPS)", p.flops_per_s / 1e9)
          : detail::format("%.1f GFLOP/s (Eigen sgemm %.0f^3, best of %.0f, %.0f threads)", p.flops_per_s / 1e9,
                           p.gemm_n, p.gemm_runs, p.threads);
  const std::string ridge = detail::format("%.1f FLOP/byte", p.flops_per_s / p.bytes_per_s);
  const std::string llc = detail::format("%.0f MiB", static_cast<double>(p.llc_bytes) / (1 << 20));
  benchmark::AddCustomContext("beacon_threads", std::to_string(p.threads));
  benchmark::AddCustomContext("beacon_peak_bandwidth", bw);
  benchmark::AddCustomContext("beacon_peak_sgemm", fl);
  benchmark::AddCustomContext("beacon_ridge", ridge);
  benchmark::AddCustomContext("beacon_llc", llc);
  benchmark::AddCustomContext("beacon_eigen_simd", Eigen::SimdInstructionSetsInUse());
  std::fprintf(stderr,
               "beacon roofline probe: threads %d | bandwidth %s | compute %s | ridge %s | LLC %s | Eigen SIMD %s\n",
               p.threads, bw.c_str(), fl.c_str(), ridge.c_str(), llc.c_str(), Eigen::SimdInstructionSetsInUse());
  return p;
}

/// Sets the per-case counters for a run whose loop took `seconds` in total over st.iterations().
/// `bytes` and `flops` are per iteration (engineering.md B.5 models); either may be 0.
inline void set_roofline(benchmark::State& st, double seconds, double bytes, double flops) {
  const auto it = static_cast<double>(st.iterations());
  if (it <= 0 || seconds <= 0) return;
  const double t = seconds / it;
  const machine_peaks& p = peaks();
  if (bytes > 0) st.SetBytesProcessed(static_cast<std::int64_t>(bytes * it));
  if (flops > 0) st.counters["flops"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  const double t_bw = (bytes > 0 && p.bytes_per_s > 0) ? bytes / p.bytes_per_s : 0;
  const double t_fl = (flops > 0 && p.flops_per_s > 0) ? flops / p.flops_per_s : 0;
  if (t_bw > 0) st.counters["bw_frac"] = t_bw / t;
  if (t_fl > 0) st.counters["flop_frac"] = t_fl / t;
  if (t_bw > 0 || t_fl > 0) st.counters["roofline"] = std::max(t_bw, t_fl) / t;
}

/// Times `body` in the benchmark loop (wall clock, the same span Google Benchmark's real time
/// covers) and sets the roofline counters. Register the case with ->UseRealTime().
template <class Body>
void measure(benchmark::State& st, double bytes, double flops, Body&& body) {
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) body();
  const auto t1 = std::chrono::steady_clock::now();
  set_roofline(st, std::chrono::duration<double>(t1 - t0).count(), bytes, flops);
}

/// "LLC-resident (4.0 MiB)" when `working_set_bytes` fits the last-level cache (the DRAM roofline
/// does not apply; bw_frac > 1 is possible), else "DRAM (… MiB)".
inline std::string residency_label(double working_set_bytes) {
  const double mib = working_set_bytes / (1 << 20);
  const bool resident = working_set_bytes <= static_cast<double>(peaks().llc_bytes ? peaks().llc_bytes : llc_bytes());
  return detail::format(resident ? "LLC-resident (%.2f MiB)" : "DRAM (%.1f MiB)", mib);
}

/// Number of disjoint copies of a `bytes_per_copy` working set that together exceed `factor` x LLC:
/// cycling through them makes every iteration stream its inputs from DRAM ("cold" cases).
inline std::int64_t copies_beyond_llc(double bytes_per_copy, double factor = 3.0) {
  const double llc = static_cast<double>(peaks().llc_bytes ? peaks().llc_bytes : llc_bytes());
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(factor * llc / bytes_per_copy) + 1);
}

/// main() for a bench binary: parse flags, probe the machine (skipped for --help and
/// --benchmark_list_tests), run the selected cases.
inline int main(int argc, char** argv) {
  bool list_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h" || a.starts_with("--benchmark_list_tests")) list_only = true;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!list_only) probe();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace beacon::bench

#define BEACON_BENCH_MAIN() \
  int main(int argc, char** argv) { return ::beacon::bench::main(argc, argv); }
