// SPDX-License-Identifier: Apache-2.0
#pragma once
// beacon's exception hierarchy and the checks that produce it.
//
// Every message names the function, the argument, what was expected and what was got, e.g.
//   beacon::row_top_k: argument 'k' expected <= cols (8), got 9
// Device code never throws; CUDA status codes are turned into cuda_error on the host.

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace beacon {

/// Base of every error beacon throws.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A tensor has the wrong extent, leading dimension or size relation to another argument.
class shape_error : public error {
 public:
  using error::error;
};

/// A scalar or element value is out of its domain (k > E, NaN logits, negative threads, ...).
class value_error : public error {
 public:
  using error::error;
};

/// A file or serialised blob is malformed (bad header, offsets, dtype, checksum).
class format_error : public error {
 public:
  using error::error;
};

/// An operating-system call on a file failed (open, read, write, fsync, rename) or a path is not
/// the kind of file the call needs (a directory, a device where a regular file is read). The message
/// names the path and the OS error.
class io_error : public error {
 public:
  using error::error;
};

/// A CUDA runtime or cuBLAS call failed; `code()` is the raw status value.
class cuda_error : public error {
 public:
  cuda_error(const std::string& what, int code) : error(what), code_(code) {}
  [[nodiscard]] int code() const noexcept { return code_; }

 private:
  int code_;
};

namespace detail {

template <class... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}

/// "beacon::<fn>: argument '<arg>' expected <expected>, got <actual>"
template <class Expected, class Actual>
std::string argument_message(const char* fn, const char* arg, const Expected& expected,
                             const Actual& actual) {
  return concat("beacon::", fn, ": argument '", arg, "' expected ", expected, ", got ", actual);
}

template <class Error = value_error, class Expected, class Actual>
[[noreturn]] void fail(const char* fn, const char* arg, const Expected& expected,
                       const Actual& actual) {
  throw Error(argument_message(fn, arg, expected, actual));
}

/// Throws shape_error unless `actual == expected`.
template <class A, class B>
void require_extent(const char* fn, const char* arg, const char* what, A actual, B expected) {
  if (actual != static_cast<A>(expected))
    throw shape_error(concat("beacon::", fn, ": argument '", arg, "' expected ", what, " = ",
                             expected, ", got ", actual));
}

}  // namespace detail

// The argument checks every module and user-written op shares, as public names: a failed check throws
// the error type given (value_error by default) with "beacon::<fn>: argument '<arg>' expected <...>,
// got <...>".
using detail::concat;
using detail::fail;
using detail::require_extent;

}  // namespace beacon
