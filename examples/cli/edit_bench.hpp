// SPDX-License-Identifier: Apache-2.0
#pragma once
// `beacon edit-bench`: shared declarations of its two translation units (the embedded synthetic
// knowledge base in edit_bench_data.cpp, the command in edit_bench_cmd.cpp).

#include <cstdint>
#include <string>
#include <vector>

#include <beacon/edit/record.hpp>

namespace beacon::cli::edit_bench {

/// One ZsRE-format record (the library's edit::edit_record; files are read by edit::load_zsre).
using record = beacon::edit::edit_record;

/// The embedded default: a seeded ZsRE-shaped synthetic knowledge base (entities in topic clusters,
/// relation templates with paraphrases, unrelated locality questions). Deterministic in `seed`; a
/// prefix of a longer draw (records [0, n) do not depend on count >= n). `count` above
/// synthetic_capacity() is a value_error.
std::vector<record> synthetic_records(std::size_t count, std::uint64_t seed);
std::size_t synthetic_capacity();

}  // namespace beacon::cli::edit_bench
