// SPDX-License-Identifier: Apache-2.0
#pragma once
// beacon::cpu — the host backend: Eigen for dense algebra, OpenMP across rows.
//
// Work is split into static row ranges over `threads` threads, and every per-row computation runs
// in a fixed order, so results are bit-identical run to run for a fixed thread count (and, for
// everything except GEMM, for any thread count). Operations are synchronous; synchronize() is a
// no-op kept for the backend concept.

#include <memory>
#include <vector>
#include <string_view>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "../../core/backend.hpp"
#include "../../core/error.hpp"
#include "../../core/host_buffer.hpp"
#include "../../core/workspace.hpp"

namespace beacon {

class cpu {
 public:
  using memory_space = host_space;

  /// All hardware threads OpenMP reports (1 without OpenMP).
  cpu() : cpu(default_threads()) {}
  explicit cpu(int threads) : threads_(threads), scratch_(std::make_shared<host_workspace>()) {
    if (threads < 1) detail::fail("cpu", "threads", ">= 1", threads);
  }

  static constexpr std::string_view name() noexcept { return "cpu"; }
  [[nodiscard]] int threads() const noexcept { return threads_; }
  void synchronize() const noexcept {}

  /// Scratch block of at least `bytes`, shared by copies of this backend object; valid until the
  /// next call to scratch(). Not thread-safe: use one backend object per calling thread.
  [[nodiscard]] workspace_arena<host_space> scratch(std::size_t bytes) const { return scratch_->reserve(bytes); }

  static int default_threads() noexcept {
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
  }

  /// Rows below which parallel loops stay on one thread (fork/join costs more than the work).
  static constexpr size_type parallel_min_elements = 1 << 15;

  /// Thread count for a loop touching `elements` elements.
  [[nodiscard]] int threads_for(size_type elements) const noexcept {
    return elements < parallel_min_elements ? 1 : threads_;
  }

 private:
  int threads_;
  std::shared_ptr<host_workspace> scratch_;
};

static_assert(backend<cpu>);

template <class T>
host_buffer<T> make_buffer(const cpu& /*be*/, size_type n) {
  if (n < 0) detail::fail("make_buffer", "n", ">= 0", n);
  return host_buffer<T>(n);
}

}  // namespace beacon
