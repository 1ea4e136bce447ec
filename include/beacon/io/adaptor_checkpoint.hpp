#pragma once
// Adaptor checkpoints in safetensors: every parameter as a tensor (F32/F64, PyTorch layout), and in
// __metadata__ the format tag, the adaptor's compile-time identity (scalar, router, top-k, expert),
// its config, the frozen flags and a checksum of the data buffer.
//
//   beacon::io::save_adaptor(a, "edits.safetensors");                 // atomic: temp file, fsync, rename
//   auto b = beacon::io::load_adaptor<Adaptor>(be, "edits.safetensors");
//
// Loading validates the file (safetensors.hpp), the identity, the config, the checksum, and that the
// tensors are exactly the adaptor's parameters with the right dtype and shape; any mismatch is a
// format_error naming it. AdamW moments are not saved: a loaded adaptor resumes with fresh moments.
// A router whose state is data rather than parameters (instance_anchor_router) adds two tensors:
// "router.anchors" (N x d, the adaptor's scalar) and "router.anchor_owner" (I32, N).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../moe/adaptor.hpp"
#include "../moe/instance_anchor_router.hpp"
#include "../moe/kv_anchor_router.hpp"
#include "../moe/softmax_topk_router.hpp"
#include "safetensors.hpp"

namespace beacon::io {

inline constexpr const char* adaptor_format = "beacon.moe.adaptor/1";

namespace detail {
inline nlohmann::json options_json(const moe::kv_router_options& o) {
  return {{"gate", static_cast<int>(o.gate)},           {"score", static_cast<int>(o.score)},
          {"projection", static_cast<int>(o.projection)}, {"key", static_cast<int>(o.key)},
          {"train_route", static_cast<int>(o.train_route)}, {"null_route", o.null_route},
          {"null_threshold", o.null_threshold},           {"init_scale", o.init_scale}};
}
inline void options_from(const nlohmann::json& j, moe::kv_router_options& o) {
  o.gate = static_cast<moe::gate_norm>(j.at("gate").get<int>());
  o.score = static_cast<moe::score_function>(j.at("score").get<int>());
  o.projection = static_cast<moe::projection_mode>(j.at("projection").get<int>());
  o.key = static_cast<moe::key_init>(j.at("key").get<int>());
  o.train_route = static_cast<moe::training_route>(j.at("train_route").get<int>());
  o.null_route = j.at("null_route").get<bool>();
  o.null_threshold = j.at("null_threshold").get<double>();
  o.init_scale = j.at("init_scale").get<double>();
}
inline nlohmann::json options_json(const moe::softmax_router_options& o) {
  return {{"gate", static_cast<int>(o.gate)}, {"noise_std", o.noise_std}, {"load_balance_weight", o.load_balance_weight},
          {"init_scale", o.init_scale}};
}
inline void options_from(const nlohmann::json& j, moe::softmax_router_options& o) {
  o.gate = static_cast<moe::gate_norm>(j.at("gate").get<int>());
  o.noise_std = j.at("noise_std").get<double>();
  o.load_balance_weight = j.at("load_balance_weight").get<double>();
  o.init_scale = j.at("init_scale").get<double>();
}

inline nlohmann::json options_json(const moe::instance_anchor_options& o) { return {{"threshold", o.threshold}, {"centre", o.centre}}; }
inline void options_from(const nlohmann::json& j, moe::instance_anchor_options& o) {
  o.threshold = j.at("threshold").get<double>();
  o.centre = j.at("centre").get<bool>();
}

/// Routers whose state is stored anchors (data), saved beside the parameters.
template <class Router>
inline constexpr bool stores_anchors = false;
template <class TopK>
inline constexpr bool stores_anchors<moe::instance_anchor_router<TopK>> = true;
inline constexpr const char* anchors_tensor = "router.anchors";
inline constexpr const char* anchor_owner_tensor = "router.anchor_owner";

template <class Adaptor>
std::string identity() {
  using T = typename Adaptor::scalar;
  return beacon::detail::concat(dtype_name(dtype_of<T>()), " ", Adaptor::router_type::name, "<", Adaptor::router_type::k, "> ",
                                Adaptor::expert_type::name);
}

template <class T>
std::vector<std::int64_t> shape_of(const moe::parameter<T>& p) {
  return std::vector<std::int64_t>(p.shape.begin(), p.shape.end());
}
}  // namespace detail

/// Writes the adaptor atomically (an error during the write leaves any previous file intact).
template <class Adaptor>
void save_adaptor(Adaptor& a, const std::string& path, const chunk_writer& writer = write_all) {
  const auto& c = a.settings();
  nlohmann::json config = {{"d_model", c.d_model}, {"expert_hidden", c.expert_hidden}, {"router_rank", c.router_rank},
                           {"key_dim", c.key_dim},  {"lambda", c.lambda},               {"seed", c.seed},
                           {"freeze_earlier_experts", c.freeze_earlier_experts},
                           {"router", detail::options_json(c.router)}};
  nlohmann::json frozen = nlohmann::json::array();
  std::vector<tensor_view_bytes> tensors;
  for (auto* p : a.parameters()) {
    tensors.push_back(tensor_bytes(p->name, detail::shape_of(*p), p->value));
    if (p->frozen) frozen.push_back(p->name);
  }
  std::vector<typename Adaptor::scalar> anchors;  // kept alive until the file is written
  if constexpr (detail::stores_anchors<typename Adaptor::router_type>) {
    const auto& r = a.router();
    anchors.assign(r.anchors.data(), r.anchors.data() + r.anchors.size());  // row-major, as the matrix
    tensors.push_back(tensor_bytes(detail::anchors_tensor, {r.anchors.rows(), r.anchors.cols()}, anchors));
    tensors.push_back(tensor_bytes(detail::anchor_owner_tensor, {static_cast<std::int64_t>(r.owner.size())}, r.owner));
  }
  // The checksum covers the data buffer (the tensors' bytes in order), which the header does not change.
  std::vector<std::byte> data;
  for (const auto& t : tensors) data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  const std::map<std::string, std::string> metadata = {{"format", adaptor_format},
                                                       {"adaptor", detail::identity<Adaptor>()},
                                                       {"config", config.dump()},
                                                       {"experts", std::to_string(a.experts())},
                                                       {"frozen", frozen.dump()},
                                                       {"checksum", fnv1a64(data)}};
  write_file_atomic(path, serialize_safetensors(metadata, tensors), writer);
}

/// Reads an adaptor of type Adaptor saved by save_adaptor; see the header comment for the checks.
template <class Adaptor, class Backend>
Adaptor load_adaptor(const Backend& be, const std::string& path) {
  using T = typename Adaptor::scalar;
  const safetensors_file f = read_safetensors(path);
  auto bad = [&](const std::string& what) { return format_error("beacon::load_adaptor: " + what + " (in '" + path + "')"); };
  auto meta = [&](const char* key) -> const std::string& {
    const auto it = f.metadata.find(key);
    if (it == f.metadata.end()) throw bad(std::string("__metadata__ lacks '") + key + "'");
    return it->second;
  };
  if (meta("format") != adaptor_format) throw bad("format is '" + meta("format") + "', expected '" + adaptor_format + "'");
  if (meta("adaptor") != detail::identity<Adaptor>())
    throw bad("the file holds a '" + meta("adaptor") + "' adaptor, this type is '" + detail::identity<Adaptor>() + "'");
  if (fnv1a64(f.data()) != meta("checksum")) throw bad("checksum mismatch: data is " + fnv1a64(f.data()) + ", header says " + meta("checksum"));
  typename Adaptor::config cfg;
  nlohmann::json frozen;
  size_type experts = 0;
  try {
    const nlohmann::json j = nlohmann::json::parse(meta("config"));
    cfg.d_model = j.at("d_model").get<size_type>();
    cfg.expert_hidden = j.at("expert_hidden").get<size_type>();
    cfg.router_rank = j.at("router_rank").get<size_type>();
    cfg.key_dim = j.at("key_dim").get<size_type>();
    cfg.lambda = j.at("lambda").get<double>();
    cfg.seed = j.at("seed").get<std::uint64_t>();
    cfg.freeze_earlier_experts = j.at("freeze_earlier_experts").get<bool>();
    detail::options_from(j.at("router"), cfg.router);
    frozen = nlohmann::json::parse(meta("frozen"));
    experts = std::stoll(meta("experts"));
  } catch (const std::exception& e) {
    throw bad(std::string("config metadata is malformed: ") + e.what());
  }
  if (experts < 0 || experts > 1000000) throw bad(beacon::detail::concat("expert count ", experts, " is out of range"));
  Adaptor a = [&] {
    try {
      return Adaptor(be, cfg);
    } catch (const beacon::error& e) {
      throw bad(std::string("config is invalid: ") + e.what());
    }
  }();
  for (size_type i = 0; i < experts; ++i) a.insert_expert(moe::expert_init<T>::random_normal(0), {});
  auto params = a.parameters();
  const std::size_t extra = detail::stores_anchors<typename Adaptor::router_type> ? 2 : 0;
  if (params.size() + extra != f.tensors.size())
    throw bad(beacon::detail::concat("the file has ", f.tensors.size(), " tensors, the adaptor ", params.size() + extra,
                                     extra > 0 ? " (parameters and router anchors)" : " parameters"));
  for (auto* p : params) {
    if (!f.has(p->name)) throw bad("tensor '" + p->name + "' is missing");
    const tensor_info& t = f.info(p->name);
    if (t.shape != detail::shape_of(*p))
      throw bad("tensor '" + p->name + "' has the wrong shape for this config");
    p->value = f.read<T>(p->name);
    p->frozen = false;
  }
  if (!frozen.is_array()) throw bad("frozen metadata is not a list");
  for (const auto& name : frozen) {
    if (!name.is_string()) throw bad("frozen metadata holds a non-string");
    bool found = false;
    for (auto* p : params)
      if (p->name == name.get<std::string>()) p->frozen = found = true;
    if (!found) throw bad("frozen metadata names unknown parameter '" + name.get<std::string>() + "'");
  }
  if constexpr (detail::stores_anchors<typename Adaptor::router_type>) {
    for (const char* name : {detail::anchors_tensor, detail::anchor_owner_tensor})
      if (!f.has(name)) throw bad(std::string("tensor '") + name + "' is missing");
    const tensor_info& t = f.info(detail::anchors_tensor);
    if (t.shape.size() != 2 || t.shape[1] != cfg.d_model)
      throw bad(beacon::detail::concat("tensor '", detail::anchors_tensor, "' must be N x ", cfg.d_model));
    const std::vector<T> values = f.read<T>(detail::anchors_tensor);
    row_matrix<T> anchors = Eigen::Map<const row_matrix<T>>(values.data(), t.shape[0], t.shape[1]);
    try {
      moe::instance_anchor_router<moe::top_k<Adaptor::router_type::k>>::template restore<T>(
          a.router(), std::move(anchors), f.read<index_type>(detail::anchor_owner_tensor));
    } catch (const format_error&) {
      throw;
    } catch (const beacon::error& e) {
      throw bad(std::string("router anchors are invalid: ") + e.what());
    }
  }
  return a;
}

}  // namespace beacon::io
