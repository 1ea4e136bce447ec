// SPDX-License-Identifier: Apache-2.0
#pragma once
// The backend concept: what every execution backend (beacon::cpu, beacon::cuda) provides.
// Algorithms are templates over a backend object passed first (Thrust's execution-policy idiom);
// the backend's memory_space constrains which views its operations accept.

#include <concepts>
#include <string_view>

#include "view.hpp"

namespace beacon {

template <class B>
concept backend = requires(const B& b) {
  typename B::memory_space;
  requires is_memory_space_v<typename B::memory_space>;
  { B::name() } -> std::convertible_to<std::string_view>;
  { b.synchronize() };  // blocks until queued work is done (a no-op on the CPU)
};

/// Never chosen (it takes no arguments; every backend's make_buffer<T>(be, n) takes the backend
/// first): it makes `make_buffer<T>(be, n)` in generic code a template call whatever the include
/// order, so argument-dependent lookup finds the backend's overload. Without it, a header that
/// instantiates the call before any backend's make_buffer is declared relies on C++20's ADL for
/// template-ids alone, which made g++ 12 crash (an internal compiler error) in one unit.
template <class T>
void make_buffer() = delete;

/// Views a backend may read or write.
template <class B, class... Views>
concept accepts_views = backend<B> && views_in<typename B::memory_space, Views...>;

}  // namespace beacon
