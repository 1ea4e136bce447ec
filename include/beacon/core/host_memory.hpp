// SPDX-License-Identifier: Apache-2.0
#pragma once
// How much memory this machine has, for refusing impossible sizes before allocating them: a file
// larger than memory is not read, a command whose sizes multiply past it says so up front.

#include <unistd.h>

#include <cstdint>

namespace beacon {

/// Physical memory in bytes (sysconf), or 2^40 where the system does not say.
inline std::uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return std::uint64_t{1} << 40;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
}

}  // namespace beacon
