// SPDX-License-Identifier: Apache-2.0
// `beacon inspect FILE`: what an adaptor checkpoint holds (experts, keys, config, frozen flags) and
// whether its checksum matches, without knowing the adaptor's C++ type.
#include <beacon/io/json.hpp>
#include <beacon/io/safetensors.hpp>

#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "table.hpp"

namespace beacon::cli {
namespace {

struct inspect_args {
  std::string file;
  bool json = false;
};

void run(const inspect_args& a) {
  const io::safetensors_file f = io::read_safetensors(a.file);
  auto meta = [&](const std::string& k) {
    const auto it = f.metadata.find(k);
    return it == f.metadata.end() ? std::string() : it->second;
  };
  const std::string stored = meta("checksum"), actual = io::fnv1a64(f.data());
  const std::string status = stored.empty() ? "absent" : (stored == actual ? "ok" : "mismatch");
  nlohmann::json frozen = nlohmann::json::object(), config = nlohmann::json::object();
  // Depth-limited parses (printing a deeper value would recurse past the stack), strict counts.
  if (!meta("frozen").empty()) frozen = io::parse_json(meta("frozen"), "beacon inspect: '" + a.file + "': frozen metadata");
  if (!meta("config").empty()) config = io::parse_json(meta("config"), "beacon inspect: '" + a.file + "': config metadata");
  const long long experts = meta("experts").empty() ? 0 : io::parse_count(meta("experts"), 0, 1000000, "beacon inspect: '" + a.file + "': expert count");
  // Frozen rows per tensor: format 2 stores {name: rows}, format 1 a list of fully frozen names.
  auto frozen_rows = [&](const io::tensor_info& t) -> long long {
    const long long rows = t.shape.empty() ? 1 : (t.shape.size() == 2 ? t.shape[0] : 1);
    if (frozen.is_object()) return frozen.contains(t.name) && frozen[t.name].is_number_integer() ? frozen[t.name].get<long long>() : 0;
    for (const auto& n : frozen)
      if (n == t.name) return rows;
    return 0;
  };
  auto row_norms = [&](const io::tensor_info& t) {
    std::vector<double> v;
    if (t.type == io::dtype::f32)
      for (float x : f.read<float>(t.name)) v.push_back(x);
    else if (t.type == io::dtype::f64)
      v = f.read<double>(t.name);
    const std::size_t cols = t.shape.empty() ? 1 : static_cast<std::size_t>(t.shape.back());
    std::vector<double> norms;
    for (std::size_t r = 0; cols > 0 && r < v.size() / cols; ++r) {
      double sq = 0;
      for (std::size_t c = 0; c < cols; ++c) sq += v[r * cols + c] * v[r * cols + c];
      norms.push_back(std::sqrt(sq));
    }
    return norms;
  };
  nlohmann::json tensors = nlohmann::json::array(), keys = nlohmann::json::array();
  for (const auto& t : f.tensors) {
    const long long rows = t.shape.size() == 2 ? t.shape[0] : 1, fr = frozen_rows(t);
    tensors.push_back({{"name", t.name}, {"dtype", io::dtype_name(t.type)}, {"shape", t.shape}, {"frozen", fr >= rows}, {"frozen_rows", fr}});
    if (t.name == "router.keys") {  // format 2: one E x d_k tensor, rows [0, frozen) frozen
      const auto norms = row_norms(t);
      for (std::size_t r = 0; r < norms.size(); ++r)
        keys.push_back({{"name", "router.keys[" + std::to_string(r) + "]"}, {"norm", norms[r]}, {"frozen", static_cast<long long>(r) < fr}});
    } else if (t.name.rfind("router.key", 0) == 0) {  // format 1: one tensor per key
      const auto norms = row_norms(t);
      keys.push_back({{"name", t.name}, {"norm", norms.empty() ? 0.0 : norms[0]}, {"frozen", fr > 0}});
    }
  }
  // instance_anchor_router checkpoints: how many stored anchors route to each expert.
  nlohmann::json anchors = nullptr;
  if (f.has("router.anchor_owner")) {
    std::vector<long long> per_expert;
    per_expert.assign(static_cast<std::size_t>(experts), 0);
    for (auto owner : f.read<std::int32_t>("router.anchor_owner")) {
      if (owner < 0 || owner >= experts)  // bounded by the expert count: a corrupt owner must not size an allocation
        throw format_error(beacon::concat("beacon inspect: '", a.file, "': anchor owner ", owner, " is not one of the ", experts, " experts"));
      ++per_expert[static_cast<std::size_t>(owner)];
    }
    long long total = 0;
    for (auto n : per_expert) total += n;
    anchors = {{"count", total}, {"per_expert", per_expert}};
  }
  const nlohmann::json j = {{"file", a.file},          {"format", meta("format")}, {"adaptor", meta("adaptor")},
                            {"experts", experts},
                            {"config", config},        {"checksum", {{"stored", stored}, {"actual", actual}, {"status", status}}},
                            {"keys", keys},            {"anchors", anchors},      {"tensors", tensors}};
  if (a.json) {
    emit("", json_text(j, 2));
    if (status == "mismatch") throw format_error("beacon inspect: checksum mismatch in '" + a.file + "'");  // exit 1 with --json too
    return;
  }
  std::cout << a.file << "\n  format   " << meta("format") << "\n  adaptor  " << meta("adaptor") << "\n  experts  " << j["experts"]
            << "\n  config   " << wrap_after_commas(json_text(config), 11, 11) << "\n  checksum " << status << " (" << actual << ")\n  keys\n";
  for (const auto& k : keys) std::cout << "    " << k["name"].get<std::string>() << "  |k| = " << k["norm"] << (k["frozen"] ? "  frozen" : "  trainable") << "\n";
  if (!anchors.is_null()) {
    const std::string head = "  anchors  " + json_text(anchors["count"]) + " (per expert ";
    std::cout << head << wrap_after_commas(json_text(anchors["per_expert"]) + ")", head.size(), 11) << "\n";
  }
  std::cout << "  tensors (" << tensors.size() << ")\n";
  for (const auto& t : tensors) std::cout << "    " << t["name"].get<std::string>() << " " << t["dtype"].get<std::string>() << " " << json_text(t["shape"]) << (t["frozen"] ? " frozen" : "") << "\n";
  if (status == "mismatch") throw format_error("beacon inspect: checksum mismatch in '" + a.file + "'");
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto args = std::make_shared<inspect_args>();
  auto* cmd = app.add_subcommand("inspect", "Show an adaptor checkpoint's experts, keys, config and checksum status");
  cmd->add_option("file", args->file, "a .safetensors checkpoint written by beacon")->required();
  cmd->add_flag("--json", args->json, "print JSON instead of text");
  cmd->callback([args] { run(*args); });
}

}  // namespace beacon::cli
