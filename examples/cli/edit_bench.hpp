// SPDX-License-Identifier: Apache-2.0
#pragma once
// `beacon edit-bench`: shared declarations of its two translation units (data loading / the embedded
// synthetic knowledge base in edit_bench_data.cpp, the host model and editing methods in
// edit_bench_cmd.cpp).

#include <cstdint>
#include <string>
#include <vector>

namespace beacon::cli::edit_bench {

/// One ZsRE-format record (EasyEdit / MEND): the edit src -> alt, its paraphrase, and an unrelated
/// locality question with its answer. `pred` is the fact the host model knows before editing.
struct record {
  std::string src, pred, rephrase, alt, loc, loc_ans;
};

/// Reads a JSON array of ZsRE records. Missing or non-string required keys are an input_error naming
/// the record index and key; extra keys are ignored; records whose `alt` is empty (after trimming) are
/// skipped (counted in *skipped). Answers are trimmed.
std::vector<record> load_records(const std::string& path, std::size_t* skipped = nullptr);

/// The embedded default: a seeded ZsRE-shaped synthetic knowledge base (entities in topic clusters,
/// relation templates with paraphrases, unrelated locality questions). Deterministic in `seed`.
std::vector<record> synthetic_records(std::size_t count, std::uint64_t seed);

}  // namespace beacon::cli::edit_bench
