// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one output path of the library and the `beacon` command: every file beacon writes (checkpoints,
// .npy, JSON, SVG, CSV) goes through write_file_atomic.
//
// A regular file (or a new one) is replaced atomically: the bytes go to a temporary file in the
// target's folder (an unnamed O_TMPFILE where the file system has it, so even a kill -9 leaves
// nothing behind), every write is checked, the file is fsynced, closed (checked), linked and renamed
// over the target, and the folder is fsynced. Any failure removes the temporary file, leaves the
// previous file exactly as it was, and throws io_error naming the path and the OS error.
// A target that is not a regular file (a device such as /dev/null or /dev/full, a FIFO) is written
// directly, every write checked, never renamed over; /dev/stdout and /dev/stderr are written at the
// process's descriptors 1 and 2; a directory is refused.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <span>
#include <string>

#include "../core/error.hpp"

namespace beacon::io {

/// Writes `size` bytes to fd; returns false (errno set) on failure. Tests substitute one that fails midway.
using chunk_writer = std::function<bool(int fd, const std::byte* data, std::size_t size)>;

inline bool write_all(int fd, const std::byte* data, std::size_t size) {
  while (size > 0) {
    const ::ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {  // no progress and no error: treat as a full device rather than spin
      errno = ENOSPC;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

namespace detail {
inline io_error write_failure(const std::string& path, const char* step, int err) {
  return io_error(beacon::concat("beacon::write_file: cannot write '", path, "': ", step, " failed", err ? ": " : "", err ? std::strerror(err) : ""));
}
inline std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}
/// The file a path names, through symbolic links (a link to a file is replaced at its target,
/// the link stays); the path itself when it does not resolve (a new file, a dangling link).
inline std::string resolved(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}
}  // namespace detail

/// Writes all of `bytes` to an open descriptor (stdout, a device), checked; `name` names it in errors.
inline void write_to_descriptor(int fd, std::span<const std::byte> bytes, const std::string& name, const chunk_writer& writer = write_all) {
  errno = 0;
  if (!bytes.empty() && !writer(fd, bytes.data(), bytes.size())) throw detail::write_failure(name, "write", errno);
}

/// Replaces `path` with `bytes`: atomically for a regular or new file, directly for a device or FIFO
/// (see the top of this header). Throws io_error naming the path, the failing step and the OS error.
inline void write_file_atomic(const std::string& path, std::span<const std::byte> bytes, const chunk_writer& writer = write_all) {
  if (path.empty()) throw value_error("beacon::write_file: argument 'path' expected a file name, got an empty string");
  // The process's own streams: written at their descriptor (whatever the shell redirected them to,
  // appending where it appends), never reopened or replaced.
  if (path == "/dev/stdout" || path == "/dev/fd/1" || path == "/proc/self/fd/1") return write_to_descriptor(1, bytes, path, writer);
  if (path == "/dev/stderr" || path == "/dev/fd/2" || path == "/proc/self/fd/2") return write_to_descriptor(2, bytes, path, writer);
  const std::string target = detail::resolved(path);
  struct stat existing {};
  const bool exists = ::stat(target.c_str(), &existing) == 0;
  if (exists && S_ISDIR(existing.st_mode)) throw io_error("beacon::write_file: cannot write '" + path + "': it is a directory");
  if (exists && !S_ISREG(existing.st_mode)) {  // a device or FIFO: write through, never rename over it
    const int fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) throw detail::write_failure(path, "open", errno);
    try {
      write_to_descriptor(fd, bytes, path, writer);
    } catch (...) {
      ::close(fd);
      throw;
    }
    if (::close(fd) != 0) throw detail::write_failure(path, "close", errno);
    return;
  }
  const std::string folder = detail::folder_of(target);
  const mode_t mode = exists ? (existing.st_mode & 07777) : 0666;  // a new file: 0666 less the umask, as open() does
  static std::atomic<unsigned> counter{0};
  const std::string temp = beacon::concat(target, ".tmp-", ::getpid(), "-", counter++);
  // Unnamed first (nothing to clean up after a crash); a named temporary where O_TMPFILE is missing.
  int fd = -1;
#ifdef O_TMPFILE
  if (::access("/proc/self/fd", X_OK) == 0) fd = ::open(folder.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);  // linked via /proc below
#endif
  const bool unnamed = fd >= 0;
  if (!unnamed) fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw detail::write_failure(path, "creating a temporary file in its folder", errno);
  bool linked = !unnamed;
  auto fail = [&](const char* step, int err) -> io_error {
    if (fd >= 0) ::close(fd);
    if (linked) ::unlink(temp.c_str());
    return detail::write_failure(path, step, err);
  };
  errno = 0;
  if (!bytes.empty() && !writer(fd, bytes.data(), bytes.size())) throw fail("write", errno);
  if (exists && ::fchmod(fd, mode) != 0) throw fail("fchmod", errno);  // O_TMPFILE applies the umask; keep the old file's mode
  if (::fsync(fd) != 0) throw fail("fsync", errno);
  if (unnamed) {
    const std::string self = beacon::concat("/proc/self/fd/", fd);
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temp.c_str(), AT_SYMLINK_FOLLOW) != 0) throw fail("linking the temporary file", errno);
    linked = true;
  }
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) throw fail("close", errno);
  if (::rename(temp.c_str(), target.c_str()) != 0) throw fail("rename", errno);
  linked = false;
  const int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // make the rename itself durable
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace beacon::io
