// SPDX-License-Identifier: Apache-2.0
#pragma once
// Atomic file replacement: write a temporary file next to the target, fsync it, rename it over the
// target, fsync the directory. A crash or an error at any point leaves either the old file or the
// new one, never a half-written mix; on error the temporary file is removed.

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <functional>
#include <span>
#include <string>

#include "../core/error.hpp"

namespace beacon::io {

/// Writes `size` bytes to fd; returns false on failure (tests substitute one that fails midway).
using chunk_writer = std::function<bool(int fd, const std::byte* data, std::size_t size)>;

inline bool write_all(int fd, const std::byte* data, std::size_t size) {
  while (size > 0) {
    const ::ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

/// Replaces `path` with `bytes` atomically. Throws beacon::error naming the path and the failing step.
inline void write_file_atomic(const std::string& path, std::span<const std::byte> bytes, const chunk_writer& writer = write_all) {
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw error(beacon::concat("beacon::write_file_atomic: cannot create '", tmp, "': ", std::strerror(errno)));
  auto fail = [&](const char* step) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw error(beacon::concat("beacon::write_file_atomic: ", step, " failed for '", path, "'", err ? ": " : "", err ? std::strerror(err) : ""));
  };
  errno = 0;
  if (!writer(fd, bytes.data(), bytes.size())) fail("write");
  if (::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw error(beacon::concat("beacon::write_file_atomic: close failed for '", path, "'"));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw error(beacon::concat("beacon::write_file_atomic: rename to '", path, "' failed: ", std::strerror(err)));
  }
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // make the rename itself durable
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace beacon::io
