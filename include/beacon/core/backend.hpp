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

/// Views a backend may read or write.
template <class B, class... Views>
concept accepts_views = backend<B> && views_in<typename B::memory_space, Views...>;

}  // namespace beacon
