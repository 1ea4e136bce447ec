// SPDX-License-Identifier: Apache-2.0
#pragma once
// An editing method: a named way to edit a host — fine-tuning its block, or an adaptor (which
// router, which expert, which options) — defined once in its own header under edit/methods/ and listed once in edit/methods.hpp.
//
//   for (const auto& m : edit::editing_methods<my_host, beacon::cpu>())
//     auto r = m.run(beacon::cpu{}, host, edits, batches, {}, settings);  // r.run: scores, steps, routing; r.save(path)
//
// Methods edit float rows on a host-memory backend (beacon::cpu).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "../io/adaptor_checkpoint.hpp"
#include "runner.hpp"

namespace beacon::edit {

/// What every method is configured from.
struct method_settings {
  size_type d_model = 0, expert_hidden = 256;
  std::uint64_t seed = 0;
  double lr = 1e-2, loss_threshold = 0.05;
  double ft_lr = 1e-3;  ///< ft: learning rate of the block's fine-tuning
  long long max_iters = 150;
  double null_threshold = 0.5;    ///< key routers with a null route: cosine below which no expert is used
  double anchor_threshold = 0.6;  ///< instance anchors: cosine to the nearest anchor below which no expert is used
  double key_threshold = 0.3;     ///< centroid keys: cosine to the nearest key below which no expert is used
  std::function<void(size_type, size_type, long long, double)> progress;  ///< per training iteration; may be empty
};

/// A method's result: the run, and (for adaptors worth keeping) a saver of the final adaptor.
struct method_result {
  adaptor_run run;
  std::function<void(const std::string&)> save;  ///< empty when the method keeps nothing
  size_type experts = 0;
};

/// An editing method for hosts of type H on host-memory backend B (an adaptor runs on a copy of
/// the backend object given to run). `planned`: it edits in the clustering-planned order (with
/// `whole_clusters`, one batch per cluster);
/// `centred_routing`: its router keys on centred instance embeddings (edit::with_centred_routing).
template <class H, class B>
struct editing_method {
  std::string name;
  bool planned = false;
  bool centred_routing = false;
  std::function<method_result(const B&, const H&, const edit_set<float>&, const batch_list&, const std::vector<char>&, const method_settings&)> run;
  bool whole_clusters = false;  ///< planned: one batch per k-means cluster (edit::order_spec::whole_clusters)
};

/// The adaptor config every method starts from: the settings' model width, expert width and seed.
template <class A>
typename A::config base_config(const method_settings& s) {
  typename A::config c;
  c.d_model = s.d_model;
  c.expert_hidden = s.expert_hidden;
  c.seed = s.seed;
  return c;
}

/// Runs the editing loop with `ad` and keeps the final adaptor for saving when `keep`.
template <class A, host_model H>
method_result run_method(A ad, const H& host, const edit_set<float>& set, const batch_list& batches, const std::vector<char>& trained,
                         const method_settings& s, adaptor_run_options o, bool keep) {
  o.lr = s.lr;
  o.loss_threshold = s.loss_threshold;
  o.max_iters = s.max_iters;
  o.seed = s.seed;
  o.progress = s.progress;
  method_result r;
  r.run = edit_with_adaptor(ad, host, set, batches, trained, o);
  r.experts = ad.experts();
  if (keep) {
    auto kept = std::make_shared<A>(std::move(ad));
    r.save = [kept](const std::string& path) { io::save_adaptor(*kept, path); };
  }
  return r;
}

}  // namespace beacon::edit
