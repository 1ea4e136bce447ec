// SPDX-License-Identifier: Apache-2.0
#pragma once
// Host <-> backend transfers for algorithms written over any backend: small vectors of metadata
// (offsets, per-row coefficients, per-row results) cross with these; tensors stay on the backend.

#include <type_traits>
#include <vector>

#include "../core/backend.hpp"
#include "../core/view.hpp"

namespace beacon {

/// A host copy of a backend vector (waits for the backend's queued work).
template <backend B, class T>
std::vector<std::remove_const_t<T>> download(const B& be, vector_view<T, typename B::memory_space> v) {
  std::vector<std::remove_const_t<T>> out(static_cast<std::size_t>(v.size()));
  copy(be, vector_view<const std::remove_const_t<T>, typename B::memory_space>(v), host_vector(out.data(), v.size()));
  be.synchronize();
  return out;
}

/// A dense row-major host copy of a backend matrix: one transfer when the rows are contiguous,
/// one per row otherwise (waits for the backend's queued work).
template <backend B, class T>
std::vector<std::remove_const_t<T>> download(const B& be, matrix_view<T, typename B::memory_space> m) {
  using U = std::remove_const_t<T>;
  std::vector<U> out(static_cast<std::size_t>(m.size()));
  if (m.contiguous()) {
    copy(be, vector_view<const U, typename B::memory_space>(m.data(), m.size()), host_vector(out.data(), m.size()));
  } else {
    for (size_type i = 0; i < m.rows(); ++i)
      copy(be, vector_view<const U, typename B::memory_space>(m.row(i), m.cols()), host_vector(out.data() + i * m.cols(), m.cols()));
  }
  be.synchronize();
  return out;
}

/// Copies host values into a backend vector (queued; the host vector may be freed on return).
template <backend B, class T>
void upload(const B& be, const std::vector<T>& host, vector_view<T, typename B::memory_space> dst) {
  copy(be, host_vector<const T>(host.data(), static_cast<size_type>(host.size())), dst);
}

}  // namespace beacon
