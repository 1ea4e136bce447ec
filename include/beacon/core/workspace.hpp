// SPDX-License-Identifier: Apache-2.0
#pragma once
// Scratch memory in the CUB idiom: an operation states how many bytes it needs (a query), the
// caller or backend provides them once, and the operation carves typed arrays out of that block.
// Nothing in a hot path allocates behind the caller's back.

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

#include "error.hpp"
#include "view.hpp"

namespace beacon {

/// Every carved array starts on this boundary (enough for 16-byte vector loads and TMA/cp.async).
inline constexpr std::size_t workspace_alignment = 256;

constexpr std::size_t align_up(std::size_t bytes, std::size_t alignment = workspace_alignment) noexcept {
  return (bytes + alignment - 1) / alignment * alignment;
}

/// Accumulates the byte size of a sequence of typed arrays; mirror of workspace_arena::take.
class workspace_layout {
 public:
  template <class T>
  workspace_layout& add(size_type count) {
    bytes_ = align_up(bytes_) + sizeof(T) * static_cast<std::size_t>(count < 0 ? 0 : count);
    return *this;
  }
  [[nodiscard]] std::size_t bytes() const noexcept { return align_up(bytes_); }

 private:
  std::size_t bytes_ = 0;
};

/// A bump allocator over a caller-provided block in memory space `Space`.
template <class Space>
class workspace_arena {
 public:
  workspace_arena() = default;
  workspace_arena(void* base, std::size_t capacity) : base_(static_cast<std::byte*>(base)), capacity_(capacity) {}

  /// `count` elements of T, aligned; throws value_error when the block is too small.
  template <class T>
  vector_view<T, Space> take(size_type count) {
    const std::size_t offset = align_up(used_);
    const std::size_t bytes = sizeof(T) * static_cast<std::size_t>(count);
    if (count < 0 || offset + bytes > capacity_)
      detail::fail("workspace_arena::take", "count",
                   detail::concat("to fit in the workspace (", capacity_ - std::min(offset, capacity_), " bytes left)"),
                   detail::concat(count, " elements of ", sizeof(T), " bytes"));
    used_ = offset + bytes;
    return vector_view<T, Space>(count == 0 ? nullptr : reinterpret_cast<T*>(base_ + offset), count);
  }
  [[nodiscard]] std::size_t used() const noexcept { return used_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

 private:
  std::byte* base_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
};

/// Owning, growable host scratch block (aligned); the CPU backend keeps one.
class host_workspace {
 public:
  /// Ensures capacity >= bytes (contents are not preserved on growth) and returns an arena over it.
  workspace_arena<host_space> reserve(std::size_t bytes) {
    if (bytes > capacity_) {
      const std::size_t rounded = align_up(bytes);
      buffer_.reset(static_cast<std::byte*>(::operator new[](rounded, std::align_val_t{workspace_alignment})));
      capacity_ = rounded;
    }
    return workspace_arena<host_space>(buffer_.get(), capacity_);
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

 private:
  struct aligned_delete {
    void operator()(std::byte* p) const noexcept { ::operator delete[](p, std::align_val_t{workspace_alignment}); }
  };
  std::unique_ptr<std::byte[], aligned_delete> buffer_;
  std::size_t capacity_ = 0;
};

}  // namespace beacon
