// `beacon inspect FILE`: what an adaptor checkpoint holds (experts, keys, config, frozen flags) and
// whether its checksum matches, without knowing the adaptor's C++ type.
#include <beacon/io/safetensors.hpp>

#include <nlohmann/json.hpp>

#include "cli_common.hpp"

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
  nlohmann::json frozen = nlohmann::json::array(), config = nlohmann::json::object();
  try {
    if (!meta("frozen").empty()) frozen = nlohmann::json::parse(meta("frozen"));
    if (!meta("config").empty()) config = nlohmann::json::parse(meta("config"));
  } catch (const nlohmann::json::exception& e) {
    throw format_error(std::string("beacon inspect: malformed metadata: ") + e.what());
  }
  auto is_frozen = [&](const std::string& name) {
    for (const auto& n : frozen)
      if (n == name) return true;
    return false;
  };
  nlohmann::json tensors = nlohmann::json::array(), keys = nlohmann::json::array();
  for (const auto& t : f.tensors) {
    tensors.push_back({{"name", t.name}, {"dtype", io::dtype_name(t.type)}, {"shape", t.shape}, {"frozen", is_frozen(t.name)}});
    if (t.name.rfind("router.key", 0) == 0) {
      double norm = 0;
      if (t.type == io::dtype::f32)
        for (float v : f.read<float>(t.name)) norm += double(v) * v;
      else if (t.type == io::dtype::f64)
        for (double v : f.read<double>(t.name)) norm += v * v;
      keys.push_back({{"name", t.name}, {"norm", std::sqrt(norm)}, {"frozen", is_frozen(t.name)}});
    }
  }
  // instance_anchor_router checkpoints: how many stored anchors route to each expert.
  nlohmann::json anchors = nullptr;
  if (f.has("router.anchor_owner")) {
    std::vector<long long> per_expert;
    for (auto owner : f.read<std::int32_t>("router.anchor_owner")) {
      if (owner < 0) throw format_error("beacon inspect: negative anchor owner in '" + a.file + "'");
      if (static_cast<std::size_t>(owner) >= per_expert.size()) per_expert.resize(static_cast<std::size_t>(owner) + 1, 0);
      ++per_expert[static_cast<std::size_t>(owner)];
    }
    long long total = 0;
    for (auto n : per_expert) total += n;
    anchors = {{"count", total}, {"per_expert", per_expert}};
  }
  const nlohmann::json j = {{"file", a.file},          {"format", meta("format")}, {"adaptor", meta("adaptor")},
                            {"experts", meta("experts").empty() ? 0 : std::stoll(meta("experts"))},
                            {"config", config},        {"checksum", {{"stored", stored}, {"actual", actual}, {"status", status}}},
                            {"keys", keys},            {"anchors", anchors},      {"tensors", tensors}};
  if (a.json) {
    emit("", j.dump(2));
    return;
  }
  std::cout << a.file << "\n  format   " << meta("format") << "\n  adaptor  " << meta("adaptor") << "\n  experts  " << j["experts"]
            << "\n  config   " << config.dump() << "\n  checksum " << status << " (" << actual << ")\n  keys\n";
  for (const auto& k : keys) std::cout << "    " << k["name"].get<std::string>() << "  |k| = " << k["norm"] << (k["frozen"] ? "  frozen" : "  trainable") << "\n";
  if (!anchors.is_null()) std::cout << "  anchors  " << anchors["count"] << " (per expert " << anchors["per_expert"].dump() << ")\n";
  std::cout << "  tensors (" << tensors.size() << ")\n";
  for (const auto& t : tensors) std::cout << "    " << t["name"].get<std::string>() << " " << t["dtype"].get<std::string>() << " " << t["shape"].dump() << (t["frozen"] ? " frozen" : "") << "\n";
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
