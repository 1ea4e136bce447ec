// SPDX-License-Identifier: Apache-2.0
#pragma once
// Edit streams and editing orders. The LEMoE protocol edits T records as streams of N (the model reset
// between streams: the "rollback" evaluation, metrics averaged over streams), each stream in S steps of
// a batch of edits: in a seeded random order, or in the order planned by clustering (plan/, batches
// of similar edits).

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <vector>

#include "../backend/contract.hpp"
#include "../core/eigen.hpp"
#include "../plan/edit_order.hpp"

namespace beacon::edit {

using batch_list = std::vector<std::vector<index_type>>;

/// Streams of at most `chunk` consecutive edits over [0, edits) (chunk <= 0: one stream of all).
inline std::vector<std::vector<index_type>> split_streams(size_type edits, size_type chunk) {
  if (edits < 0) beacon::fail("edit::split_streams", "edits", ">= 0", edits);
  const size_type n = chunk > 0 ? std::min(chunk, edits) : edits;
  std::vector<std::vector<index_type>> streams;
  for (size_type first = 0; first < edits; first += std::max<size_type>(n, 1)) {
    streams.emplace_back();
    for (size_type i = first; i < std::min(edits, first + n); ++i) streams.back().push_back(static_cast<index_type>(i));
  }
  return streams;
}

/// How a stream's edits are ordered into steps.
struct order_spec {
  bool planned = false;     ///< clustering-planned (plan_edit_order on the routing rows), else random
  std::uint64_t seed = 0;   ///< random order seed / k-means seed
  bool whole_clusters = false;  ///< planned: one batch per k-means cluster (sizes vary; plan_options::whole_clusters)
};

/// The stream's edits in `steps` batches (batch = ceil(stream / steps)), as global edit indices.
/// `routing_rows` (one row per edit of the whole set) feed the planner; `order_rows` feed the random
/// order's batch similarity report only.
template <backend B, class T>
  requires plan::kmeans_backend<B, T> && std::same_as<space_of<B>, host_space>
batch_list order_stream(const B& be, const std::vector<index_type>& stream, size_type steps, const order_spec& o,
                        const row_matrix<T>& routing_rows, const row_matrix<T>& order_rows) {
  const char* fn = "edit::order_stream";
  const auto n = static_cast<size_type>(stream.size());
  if (steps < 1 || steps > std::max<size_type>(n, 1)) beacon::fail(fn, "steps", beacon::concat("in [1, ", n, "] (the stream's edits)"), steps);
  const size_type batch = (n + steps - 1) / steps;
  auto rows_of = [&](const row_matrix<T>& m) {
    row_matrix<T> out(n, m.cols());
    for (size_type i = 0; i < n; ++i) out.row(i) = m.row(stream[static_cast<std::size_t>(i)]);
    return out;
  };
  batch_list local;
  if (o.planned) {
    plan::plan_options<T> po;
    po.batch_size = batch;
    po.kmeans.seed = o.seed;
    po.whole_clusters = o.whole_clusters;
    const row_matrix<T> r = rows_of(routing_rows);
    local = plan::plan_edit_order(be, as_view(r), po).batches;
  } else {
    const row_matrix<T> r = rows_of(order_rows);
    local = plan::random_edit_order(as_view(r), batch, o.seed).batches;
  }
  batch_list global;
  for (const auto& b : local) {
    global.emplace_back();
    for (const auto i : b) global.back().push_back(stream[static_cast<std::size_t>(i)]);
  }
  return global;
}

/// Every edit of the batches, in editing order.
inline std::vector<index_type> flatten(const batch_list& batches) {
  std::vector<index_type> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

}  // namespace beacon::edit
