// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reading ZsRE-format edit records (a JSON array of objects with string keys src, pred, rephrase,
// alt, loc, loc_ans; EasyEdit and MEND ship their ZsRE splits this way).

#include <cstddef>
#include <string_view>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../io/json.hpp"
#include "../io/read_file.hpp"
#include "record.hpp"

namespace beacon::edit {

namespace detail {
inline std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}
}  // namespace detail

struct zsre_records {
  std::vector<edit_record> records;
  std::size_t skipped = 0;  ///< records without a usable `alt` (empty after trimming)
};

/// Reads a JSON array of ZsRE records. A missing or non-regular file is an io_error; invalid JSON, a non-array, a record that is
/// not an object, or a missing or non-string key is a format_error naming the file, the record
/// index and the key. Extra keys are ignored; answers (pred, alt, loc_ans) are trimmed; records
/// whose `alt` is empty are skipped and counted.
/// parse_zsre reads the records from JSON text in memory; `path` names it in errors.
inline zsre_records parse_zsre(std::string_view text, const std::string& path) {
  const char* fn = "edit::load_zsre";
  const nlohmann::json j = io::parse_json(text, beacon::concat("beacon::", fn, ": '", path, "'"));
  if (!j.is_array()) throw format_error(beacon::concat("beacon::", fn, ": '", path, "': expected a JSON array of ZsRE records"));
  zsre_records out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto& r = j[i];
    if (!r.is_object()) throw format_error(beacon::concat("beacon::", fn, ": '", path, "': record ", i, " is not a JSON object"));
    auto get = [&](const char* key) {
      const auto it = r.find(key);
      if (it == r.end()) throw format_error(beacon::concat("beacon::", fn, ": '", path, "': record ", i, " has no key '", key, "'"));
      if (!it->is_string())
        throw format_error(beacon::concat("beacon::", fn, ": '", path, "': record ", i, " key '", key, "' is not a string"));
      return it->get<std::string>();
    };
    edit_record x{get("src"), detail::trim(get("pred")), get("rephrase"), detail::trim(get("alt")), get("loc"), detail::trim(get("loc_ans"))};
    if (x.alt.empty()) {
      ++out.skipped;
      continue;
    }
    out.records.push_back(std::move(x));
  }
  return out;
}

inline zsre_records load_zsre(const std::string& path) {
  const std::vector<std::byte> bytes = io::read_file(path, "edit::load_zsre");
  return parse_zsre(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

}  // namespace beacon::edit
