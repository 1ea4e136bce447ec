// SPDX-License-Identifier: Apache-2.0
// `beacon kmeans` and `beacon plan`: k-means and the editing-order planner on a .npy matrix.
#include <beacon/beacon.hpp>
#include <beacon/io/npy.hpp>
#include <beacon/plan.hpp>

#include <chrono>
#include <type_traits>
#include <variant>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "progress.hpp"

namespace beacon::cli {
namespace {

struct kmeans_args {
  std::string input, init = "k-means++", json, backend = "cpu";
  long long k = 8, n_init = 1, max_iter = 300, seed = 0;
  double tol = 1e-4;
  bool quiet = false;
};
struct plan_args {
  std::string input, order = "cluster", json;
  long long batch = 0, seed = 0;
  bool quiet = false;
};

/// k-means progress: one step per restart, its Lloyd iterations and inertia as the detail.
template <class Options>
void report_progress(Options& o, progress& bar, const std::string& label) {
  bar.begin(label, o.restarts);
  o.on_iteration = [&bar](const plan::kmeans_progress& p) { bar.update(p.restart, p.iteration + 1, p.inertia); };
}

/// The input in its own dtype: float32 data is clustered in float32 (half the memory and twice the
/// GEMM rate of float64), float64 in float64; the JSON's "dtype" says which.
io::npy_native load(const std::string& path) {
  try {
    return io::read_npy_native(path);
  } catch (const error& e) {
    throw input_error(e.what());
  }
}

template <class T>
constexpr const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}

template <class T>
void kmeans_in_dtype(const kmeans_args& a, const io::npy_array<T>& m) {
  plan::kmeans_options<T> o;
  o.clusters = a.k;
  o.init = a.init == "random" ? plan::kmeans_init::random : (a.init == "first" ? plan::kmeans_init::first_k : plan::kmeans_init::kmeans_plus_plus);
  o.restarts = a.n_init;
  o.max_iterations = a.max_iter;
  o.tolerance = a.tol;
  o.seed = static_cast<std::uint64_t>(a.seed);
  progress bar(!a.quiet);
  report_progress(o, bar, beacon::concat("k-means in ", dtype_name<T>(), " (restarts)"));
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = plan::kmeans(cpu{}, host_matrix<const T>(m.values.data(), m.rows, m.cols), o);
  bar.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json j = {{"inertia", r.inertia}, {"iterations", r.iterations}, {"converged", r.converged}, {"seed", r.seed},
                      {"labels", r.labels},   {"seconds", seconds},         {"dtype", dtype_name<T>()}};
  nlohmann::json centroids = nlohmann::json::array();
  for (size_type c = 0; c < r.clusters; ++c)
    centroids.push_back(std::vector<double>(r.centroids.begin() + c * r.dim, r.centroids.begin() + (c + 1) * r.dim));
  j["centroids"] = centroids;
  emit(a.json, json_text(j));
}

void run_kmeans(const kmeans_args& a) {
  if (a.backend == "cuda")
    throw value_error("beacon kmeans: argument '--backend' expected cpu (this command is built without the CUDA backend), got cuda");
  std::visit([&](const auto& m) { kmeans_in_dtype(a, m); }, load(a.input));
}

template <class T>
void plan_in_dtype(const plan_args& a, const io::npy_array<T>& m) {
  const auto x = host_matrix<const T>(m.values.data(), m.rows, m.cols);
  nlohmann::json j;
  if (a.order == "random") {
    const auto p = plan::random_edit_order(x, a.batch, static_cast<std::uint64_t>(a.seed));
    j = {{"order", "random"}, {"batches", p.batches}, {"within", p.similarity.within}, {"between", p.similarity.between}, {"seed", p.seed}};
  } else {
    plan::plan_options<T> o;
    o.batch_size = a.batch;
    o.kmeans.seed = static_cast<std::uint64_t>(a.seed);
    progress bar(!a.quiet);
    report_progress(o.kmeans, bar, beacon::concat("planning: k-means in ", dtype_name<T>(), " (restarts)"));
    const auto p = plan::plan_edit_order(cpu{}, x, o);
    bar.finish();
    j = {{"order", "cluster"},
         {"batches", p.batches},
         {"within", p.similarity.within},
         {"between", p.similarity.between},
         {"seed", p.seed},
         {"kmeans", {{"clusters", p.clustering.clusters}, {"inertia", p.clustering.inertia}, {"iterations", p.clustering.iterations}}}};
  }
  j["dtype"] = dtype_name<T>();
  emit(a.json, json_text(j));
}

void run_plan(const plan_args& a) {
  std::visit([&](const auto& m) { plan_in_dtype(a, m); }, load(a.input));
}

}  // namespace

void add_cluster_commands(CLI::App& app) {
  auto ka = std::make_shared<kmeans_args>();
  auto* k = app.add_subcommand("kmeans", "k-means of the rows of a 2-D float32/float64 .npy matrix, computed in the file's dtype");
  k->add_option("--input", ka->input, "N x d .npy file (float32 or float64, C order)")->required();
  k->add_option("--k", ka->k, "number of clusters (at most the number of rows)")->check(integer_in(1, 1000000));
  k->add_option("--init", ka->init, "k-means++|random|first")->check(CLI::IsMember({"k-means++", "random", "first"}));
  k->add_option("--n-init", ka->n_init, "restarts; the lowest inertia wins")->check(integer_in(1, 1000));
  k->add_option("--max-iter", ka->max_iter, "Lloyd iterations at most")->check(integer_in(1, 1000000));
  k->add_option("--tol", ka->tol, "tolerance on the centre shift, relative to the data variance")->check(real_in(0, 1e6));
  k->add_option("--seed", ka->seed, "random seed")->check(integer_in(0, max_seed));
  k->add_option("--backend", ka->backend, "cpu|cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  k->add_option("--json", ka->json, "output file (default: stdout)");
  k->add_flag("--quiet", ka->quiet, "no progress on stderr");
  k->callback([ka] { run_kmeans(*ka); });

  auto pa = std::make_shared<plan_args>();
  auto* p = app.add_subcommand("plan", "Plan an editing order: batches of similar edits (LEMoE's clustering-based ordering)");
  p->add_option("--input", pa->input, "N x d .npy file of edit embeddings")->required();
  p->add_option("--batch", pa->batch, "edits per editing step")->required()->check(integer_in(1, 1000000000));
  p->add_option("--order", pa->order, "cluster|random")->check(CLI::IsMember({"cluster", "random"}));
  p->add_option("--seed", pa->seed, "random seed")->check(integer_in(0, max_seed));
  p->add_option("--json", pa->json, "output file (default: stdout)");
  p->add_flag("--quiet", pa->quiet, "no progress on stderr");
  p->callback([pa] { run_plan(*pa); });
}

}  // namespace beacon::cli
