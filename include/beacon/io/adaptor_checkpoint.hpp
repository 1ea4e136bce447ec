// SPDX-License-Identifier: Apache-2.0
#pragma once
// Adaptor checkpoints in safetensors: every parameter as a tensor (F32/F64, PyTorch layout), and in
// __metadata__ the format tag, the adaptor's full type identity (scalar, router kind and top-k,
// expert kind with its activation and rank), its config, the frozen rows and a checksum of the data
// buffer. The layout does not depend on the backend: a checkpoint saved from beacon::cuda loads on
// beacon::cpu and back.
//
//   beacon::io::save_adaptor(a, "edits.safetensors");                 // atomic: temp file, fsync, rename
//   auto b = beacon::io::load_adaptor<Adaptor>(be, "edits.safetensors");
//
// Loading validates the file (safetensors.hpp), the identity (another type is a format_error that
// names both), the config, the checksum, and that the tensors are exactly the adaptor's parameters
// with the right dtype and shape; any mismatch is a format_error naming it. AdamW moments are not
// saved: a loaded adaptor resumes with fresh moments. A router whose state is data rather than
// parameters (instance_anchor_router) adds two tensors: "router.anchors" (N x d, the adaptor's
// scalar) and "router.anchor_owner" (I32, N).
//
// Format history: version 1 (beacon.moe.adaptor/1) kept one tensor per key ("router.key{i}") and
// per gate row ("router.gate{i}") and named experts without their activation ("lora", and
// mlp<identity> as "mlp_gelu"). Version-1 files load into the type they name when the name is
// unambiguous (swiglu, mlp_relu, mlp_silu); for "lora" and "mlp_gelu" the caller vouches for the
// activation with load_options{.trust_v1_expert = true}. Save again to write version 2.

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../backend/transfer.hpp"
#include "../moe/adaptor.hpp"
#include "../moe/expert_init.hpp"
#include "../moe/instance_anchor_router.hpp"
#include "../moe/kv_anchor_router.hpp"
#include "../moe/softmax_topk_router.hpp"
#include "json.hpp"
#include "safetensors.hpp"

namespace beacon::io {

inline constexpr const char* adaptor_format = "beacon.moe.adaptor/2";
inline constexpr const char* adaptor_format_v1 = "beacon.moe.adaptor/1";

struct load_options {
  /// Version-1 files only: accept an expert name that did not record its activation ("lora",
  /// "mlp_gelu") as this adaptor's expert type.
  bool trust_v1_expert = false;
};

namespace detail {
inline nlohmann::json options_json(const moe::kv_router_options& o) {
  return {{"gate", static_cast<int>(o.gate)},           {"score", static_cast<int>(o.score)},
          {"projection", static_cast<int>(o.projection)}, {"key", static_cast<int>(o.key)},
          {"train_route", static_cast<int>(o.train_route)}, {"null_route", o.null_route},
          {"null_threshold", o.null_threshold},           {"init_scale", o.init_scale}};
}
inline constexpr const char* router_options_field = "config metadata 'router'";
template <class E>
E enum_from(const nlohmann::json& j, const char* key, int count) {
  return static_cast<E>(integer_field(j, key, 0, count - 1, router_options_field));
}
inline void options_from(const nlohmann::json& j, moe::kv_router_options& o) {
  o.gate = enum_from<moe::gate_norm>(j, "gate", 2);
  o.score = enum_from<moe::score_function>(j, "score", 3);
  o.projection = enum_from<moe::projection_mode>(j, "projection", 3);
  o.key = enum_from<moe::key_init>(j, "key", 3);
  o.train_route = enum_from<moe::training_route>(j, "train_route", 2);
  o.null_route = bool_field(j, "null_route", router_options_field);
  o.null_threshold = real_field(j, "null_threshold", router_options_field);
  o.init_scale = real_field(j, "init_scale", router_options_field);
}
inline nlohmann::json options_json(const moe::softmax_router_options& o) {
  return {{"gate", static_cast<int>(o.gate)}, {"noise_std", o.noise_std}, {"load_balance_weight", o.load_balance_weight},
          {"init_scale", o.init_scale}};
}
inline void options_from(const nlohmann::json& j, moe::softmax_router_options& o) {
  o.gate = enum_from<moe::gate_norm>(j, "gate", 2);
  o.noise_std = real_field(j, "noise_std", router_options_field);
  o.load_balance_weight = real_field(j, "load_balance_weight", router_options_field);
  o.init_scale = real_field(j, "init_scale", router_options_field);
}
inline nlohmann::json options_json(const moe::instance_anchor_options& o) { return {{"threshold", o.threshold}, {"centre", o.centre}}; }
inline void options_from(const nlohmann::json& j, moe::instance_anchor_options& o) {
  o.threshold = real_field(j, "threshold", router_options_field);
  o.centre = bool_field(j, "centre", router_options_field);
}

/// Routers whose state is stored anchors (data), saved beside the parameters.
template <class Router>
inline constexpr bool stores_anchors = false;
template <class TopK>
inline constexpr bool stores_anchors<moe::instance_anchor_router<TopK>> = true;
inline constexpr const char* anchors_tensor = "router.anchors";
inline constexpr const char* anchor_owner_tensor = "router.anchor_owner";

template <class Adaptor>
std::string scalar_name() {
  return dtype_name(dtype_of<typename Adaptor::scalar>());
}
/// The full type identity, e.g. "F32 kv_anchor<k=1> lora<rank=8,activation=relu>".
template <class Adaptor>
std::string identity() {
  return scalar_name<Adaptor>() + " " + Adaptor::router_type::identity() + " " + Adaptor::expert_type::identity();
}

/// Version 1's name of a router type ("kv_anchor<2>") and the expert names it may have used.
template <class Adaptor>
std::string v1_router_name() {
  std::string r = Adaptor::router_type::identity();  // "kv_anchor<k=2>" -> "kv_anchor<2>"
  const auto at = r.find("k=");
  return at == std::string::npos ? r : r.erase(at, 2);
}
/// 1: the v1 expert name is this type's; 0: it is not; -1: v1 did not record enough to tell.
template <class Expert>
int v1_expert_matches(const std::string& v1) {
  const std::string id = Expert::identity();
  if (v1 == "swiglu") return id == "swiglu" ? 1 : 0;
  if (v1 == "mlp_relu") return id == "mlp<activation=relu>" ? 1 : 0;
  if (v1 == "mlp_silu") return id == "mlp<activation=silu>" ? 1 : 0;
  if (v1 == "mlp_gelu") return id == "mlp<activation=gelu>" || id == "mlp<activation=identity>" ? -1 : 0;
  if (v1 == "lora") return id.rfind("lora<", 0) == 0 ? -1 : 0;
  return 0;
}

inline format_error bad_file(const std::string& path, const std::string& what) {
  return format_error("beacon::load_adaptor: " + what + " (in '" + path + "')");
}
}  // namespace detail

/// Writes the adaptor atomically (an error during the write leaves any previous file intact).
template <class Adaptor>
void save_adaptor(const Adaptor& a, const std::string& path, const chunk_writer& writer = write_all) {
  using T = typename Adaptor::scalar;
  using space = typename Adaptor::space;
  const auto& be = a.get_backend();
  const auto& c = a.settings();
  nlohmann::json config = {{"d_model", c.d_model}, {"expert_hidden", c.expert_hidden}, {"router_rank", c.router_rank},
                           {"key_dim", c.key_dim},  {"lambda", c.lambda},               {"seed", c.seed},
                           {"freeze_earlier_experts", c.freeze_earlier_experts},
                           {"router", detail::options_json(c.router)}};
  nlohmann::json frozen = nlohmann::json::object();
  std::vector<std::vector<T>> values;  // host copies, alive until the file is written
  std::vector<tensor_view_bytes> tensors;
  const auto params = a.parameters();
  values.reserve(params.size() + 1);
  for (const auto* p : params) {
    values.push_back(download(be, vector_view<const T, space>(p->value_vector())));
    tensors.push_back(tensor_bytes(p->name(), std::vector<std::int64_t>(p->shape().begin(), p->shape().end()), values.back()));
    if (p->frozen_rows() > 0) frozen[p->name()] = p->frozen_rows();
  }
  std::vector<index_type> owner;
  if constexpr (detail::stores_anchors<typename Adaptor::router_type>) {
    const auto& r = a.router();
    values.push_back(download(be, r.anchors()));
    owner = r.owner();
    tensors.push_back(tensor_bytes(detail::anchors_tensor, {r.anchor_count(), c.d_model}, values.back()));
    tensors.push_back(tensor_bytes(detail::anchor_owner_tensor, {static_cast<std::int64_t>(owner.size())}, owner));
  }
  // The checksum covers the data buffer (the tensors' bytes in order), which the header does not change.
  std::vector<std::byte> data;
  for (const auto& t : tensors) data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  const std::map<std::string, std::string> metadata = {{"format", adaptor_format},
                                                       {"adaptor", detail::identity<Adaptor>()},
                                                       {"scalar", detail::scalar_name<Adaptor>()},
                                                       {"router", Adaptor::router_type::identity()},
                                                       {"expert", Adaptor::expert_type::identity()},
                                                       {"config", config.dump()},
                                                       {"experts", std::to_string(a.experts())},
                                                       {"frozen", frozen.dump()},
                                                       {"checksum", fnv1a64(data)}};
  write_file_atomic(path, serialize_safetensors(metadata, tensors), writer);
}

/// Reads an adaptor of type Adaptor from a parsed safetensors file (saved by save_adaptor, from any
/// backend) onto backend `be`; `path` names the file in errors.
template <class Adaptor, class Backend>
Adaptor load_adaptor(const Backend& be, const safetensors_file& f, const std::string& path, const load_options& options = {}) {
  using T = typename Adaptor::scalar;
  using space = typename Adaptor::space;
  auto bad = [&](const std::string& what) { return detail::bad_file(path, what); };
  auto meta = [&](const char* key) -> const std::string& {
    const auto it = f.metadata.find(key);
    if (it == f.metadata.end()) throw bad(std::string("__metadata__ lacks '") + key + "'");
    return it->second;
  };
  const std::string format = meta("format");
  const bool v1 = format == adaptor_format_v1;
  if (!v1 && format != adaptor_format)
    throw bad("format is '" + format + "', expected '" + adaptor_format + "' (or the older '" + adaptor_format_v1 + "')");
  const std::string want = detail::identity<Adaptor>();
  if (!v1) {
    if (meta("adaptor") != want) throw bad("the file holds a '" + meta("adaptor") + "' adaptor, this type is '" + want + "'");
    if (meta("scalar") + " " + meta("router") + " " + meta("expert") != want)
      throw bad("the identity fields scalar/router/expert ('" + meta("scalar") + "', '" + meta("router") + "', '" + meta("expert") +
                "') disagree with the adaptor identity '" + meta("adaptor") + "'");
  } else {
    // "F32 kv_anchor<2> swiglu": scalar, router<k>, expert without activation.
    const std::string& held = meta("adaptor");
    const auto first = held.find(' '), second = held.find(' ', first == std::string::npos ? 0 : first + 1);
    if (first == std::string::npos || second == std::string::npos) throw bad("version-1 identity '" + held + "' is malformed");
    const std::string scalar = held.substr(0, first), router = held.substr(first + 1, second - first - 1), expert = held.substr(second + 1);
    if (scalar != detail::scalar_name<Adaptor>() || router != detail::v1_router_name<Adaptor>() ||
        detail::v1_expert_matches<typename Adaptor::expert_type>(expert) == 0)
      throw bad("the file holds a version-1 '" + held + "' adaptor, this type is '" + want + "'");
    if (detail::v1_expert_matches<typename Adaptor::expert_type>(expert) < 0 && !options.trust_v1_expert)
      throw bad("version-1 checkpoints do not record the expert's activation: '" + expert + "' may or may not be this type's '" +
                Adaptor::expert_type::identity() + "'. If it was saved from that type, load it with io::load_options{.trust_v1_expert = true} "
                "and save it again to convert it to " + adaptor_format);
  }
  if (fnv1a64(f.data()) != meta("checksum")) throw bad("checksum mismatch: data is " + fnv1a64(f.data()) + ", header says " + meta("checksum"));
  typename Adaptor::config cfg;
  nlohmann::json frozen;
  size_type experts = 0;
  try {
    const std::string cf = "config metadata";
    const nlohmann::json j = parse_json(meta("config"), cf);
    constexpr std::int64_t max_size = std::int64_t{1} << 24;
    cfg.d_model = integer_field(j, "d_model", 1, max_size, cf);
    cfg.expert_hidden = integer_field(j, "expert_hidden", 1, max_size, cf);
    cfg.router_rank = integer_field(j, "router_rank", 0, max_size, cf);
    cfg.key_dim = integer_field(j, "key_dim", 0, max_size, cf);
    cfg.lambda = real_field(j, "lambda", cf);
    if (!j.contains("seed") || !j.at("seed").is_number_unsigned()) throw format_error(cf + ": 'seed' is not a non-negative integer");
    cfg.seed = j.at("seed").get<std::uint64_t>();
    cfg.freeze_earlier_experts = bool_field(j, "freeze_earlier_experts", cf);
    if (!j.contains("router")) throw format_error(cf + ": lacks 'router'");
    detail::options_from(j.at("router"), cfg.router);
    frozen = parse_json(meta("frozen"), "frozen metadata");
    experts = parse_count(meta("experts"), 0, 1000000, "expert count");
  } catch (const format_error& e) {
    throw bad(e.what());
  }
  // The sizes the config claims, against the parameters the file holds: a corrupt config must not
  // make the loader allocate more than a few times the file (every expert holds >= d x h values).
  {
    const double d = static_cast<double>(cfg.d_model), h = static_cast<double>(cfg.expert_hidden), r = static_cast<double>(cfg.router_rank),
                 k = static_cast<double>(cfg.key_dim), e = static_cast<double>(experts);
    const double claimed = d * (r + k + 2) + (e + 1) * (k + d + 3 * d * h + h) + e * d * r;
    const double held = static_cast<double>(f.data().size()) / sizeof(T);
    if (claimed > 4 * held + double(std::int64_t{1} << 26))
      throw bad(beacon::concat("config (d_model ", cfg.d_model, ", expert_hidden ", cfg.expert_hidden, ", router_rank ", cfg.router_rank, ", key_dim ",
                               cfg.key_dim, ", ", experts, " experts) describes far more parameters than the file's ", f.data().size(), " data bytes"));
  }
  Adaptor a = [&] {
    try {
      return Adaptor(be, cfg);
    } catch (const beacon::error& e) {
      throw bad(std::string("config is invalid: ") + e.what());
    }
  }();
  for (size_type i = 0; i < experts; ++i) a.insert_expert(moe::expert_init<T, space>::random_normal(0), {});

  // The file's tensors by the names this version uses (version 1: keys and gate rows stacked).
  std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<T>>> stored;
  std::map<std::string, size_type> frozen_rows;
  std::size_t consumed = 0;
  const std::size_t extra = detail::stores_anchors<typename Adaptor::router_type> ? 2 : 0;
  if (!v1) {
    if (!frozen.is_object()) throw bad("frozen metadata is not an object of row counts");
    for (auto it = frozen.begin(); it != frozen.end(); ++it) {
      const nlohmann::json& rows = it.value();
      if (!rows.is_number_unsigned() || rows.template get<std::uint64_t>() > (std::uint64_t{1} << 40))
        throw bad("frozen metadata for '" + it.key() + "' is not a row count");
      frozen_rows[it.key()] = rows.template get<size_type>();
    }
  } else {
    if (!frozen.is_array()) throw bad("frozen metadata is not a list");
  }
  for (const auto* p : std::as_const(a).parameters()) {
    const bool stacked_v1 = v1 && (p->name() == "router.keys" || p->name() == "router.gate");
    if (!stacked_v1) {
      if (!f.has(p->name())) throw bad("tensor '" + p->name() + "' is missing");
      const tensor_info& t = f.info(p->name());
      stored[p->name()] = {t.shape, f.read<T>(p->name())};
      ++consumed;
      if (v1)
        for (const auto& n : frozen)
          if (n.is_string() && n.get<std::string>() == p->name()) frozen_rows[p->name()] = p->rows();
      continue;
    }
    const std::string row_prefix = p->name() == "router.keys" ? "router.key" : "router.gate";
    std::vector<T> rows;
    size_type frozen_count = 0;
    for (size_type r = 0; r < p->rows(); ++r) {
      const std::string name = row_prefix + std::to_string(r);
      if (!f.has(name)) throw bad("tensor '" + name + "' is missing");
      const tensor_info& t = f.info(name);
      if (t.shape != std::vector<std::int64_t>{1, p->cols()}) throw bad("tensor '" + name + "' has the wrong shape for this config");
      const auto v = f.read<T>(name);
      rows.insert(rows.end(), v.begin(), v.end());
      ++consumed;
      for (const auto& n : frozen)
        if (n.is_string() && n.get<std::string>() == name) frozen_count = std::max(frozen_count, r + 1);
    }
    stored[p->name()] = {std::vector<std::int64_t>(p->shape().begin(), p->shape().end()), std::move(rows)};
    if (frozen_count > 0) frozen_rows[p->name()] = frozen_count;
  }
  if (consumed + extra != f.tensors.size())
    throw bad(beacon::concat("the file has ", f.tensors.size(), " tensors, the adaptor ", consumed + extra,
                                     extra > 0 ? " (parameters and router anchors)" : " parameters"));
  for (const auto& [name, rows] : frozen_rows)
    if (!stored.count(name)) throw bad("frozen metadata names unknown parameter '" + name + "'");

  for (auto* p : a.parameters()) {
    const auto& [shape, values] = stored.at(p->name());
    if (shape != std::vector<std::int64_t>(p->shape().begin(), p->shape().end()))
      throw bad("tensor '" + p->name() + "' has the wrong shape for this config");
    upload(be, values, p->value_vector());
    const size_type file_rows = frozen_rows.count(p->name()) ? frozen_rows.at(p->name()) : 0;
    if (file_rows > p->rows()) throw bad(beacon::concat("frozen rows of '", p->name(), "' (", file_rows, ") exceed its ", p->rows(), " rows"));
    if (file_rows < p->frozen_rows())
      throw bad(beacon::concat("frozen rows of '", p->name(), "' (", file_rows, ") are fewer than this type's insertion rule freezes (",
                                       p->frozen_rows(), ")"));
    p->freeze_rows(file_rows);
  }
  if constexpr (detail::stores_anchors<typename Adaptor::router_type>) {
    for (const char* name : {detail::anchors_tensor, detail::anchor_owner_tensor})
      if (!f.has(name)) throw bad(std::string("tensor '") + name + "' is missing");
    const tensor_info& t = f.info(detail::anchors_tensor);
    if (t.shape.size() != 2 || t.shape[1] != cfg.d_model) throw bad(beacon::concat("tensor '", detail::anchors_tensor, "' must be N x ", cfg.d_model));
    try {
      a.router().restore(be, experts, f.read<T>(detail::anchors_tensor), f.read<index_type>(detail::anchor_owner_tensor));
    } catch (const format_error&) {
      throw;
    } catch (const beacon::error& e) {
      throw bad(std::string("router anchors are invalid: ") + e.what());
    }
  }
  be.synchronize();
  return a;
}

/// Reads an adaptor of type Adaptor saved by save_adaptor (from any backend) onto backend `be`.
template <class Adaptor, class Backend>
Adaptor load_adaptor(const Backend& be, const std::string& path, const load_options& options = {}) {
  return load_adaptor<Adaptor>(be, read_safetensors(path), path, options);
}

}  // namespace beacon::io
