// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reading a whole input file, bounded: only a regular file is read (a directory, /dev/zero or a FIFO
// is an io_error naming the path and what it is), and one larger than physical memory is refused
// before any allocation. Every loader of the library (npy, safetensors, checkpoints, ZsRE) reads
// through here.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/host_memory.hpp"

namespace beacon::io {

namespace detail {
inline const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}
}  // namespace detail

/// The bytes of the regular file `path`. `fn` names the caller in errors ("read_npy").
inline std::vector<std::byte> read_file(const std::string& path, const char* fn = "read_file") {
  auto fail = [&](const std::string& what) -> io_error { return io_error(beacon::concat("beacon::", fn, ": '", path, "' ", what)); };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // O_NONBLOCK: opening a FIFO must not wait for a writer
  if (fd < 0) throw fail(beacon::concat("cannot be opened: ", std::strerror(errno)));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw fail(beacon::concat("cannot be examined: ", std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw fail(beacon::concat("is ", detail::file_kind(st.st_mode), ", expected a regular file"));
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > physical_memory_bytes())
    throw fail(beacon::concat("has ", size, " bytes, more than this machine's ", physical_memory_bytes(), " bytes of memory"));
  std::vector<std::byte> bytes(static_cast<std::size_t>(size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ::ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw fail(beacon::concat("cannot be read: ", std::strerror(errno)));
    if (n == 0) break;  // the file shrank while we read it: keep what is there (the parsers check sizes)
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace beacon::io
